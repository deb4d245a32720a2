"""The test suite: same services as configured by the environment, fast hashing."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_TRANSPORT_OPTIONS, DATABASES, REDIS_URL, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that worker processes started by tests see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-grader.sqlite3")}

# Tests get their own broker folder, so a `make run` worker on the same checkout never
# consumes a test's messages (with Redis, CI points REDIS_URL at a database of its own).
if not REDIS_URL:
    TEST_BROKER_DIR = VAR_DIR / "test-broker"
    for _folder in ("messages", "control"):
        (TEST_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(TEST_BROKER_DIR / "messages"),
        "data_folder_out": str(TEST_BROKER_DIR / "messages"),
        "control_folder": str(TEST_BROKER_DIR / "control"),
    }
