"""The test suite: same services as configured by the environment, fast hashing."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REDIS_URL, VAR_DIR, filesystem_broker_options

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that worker processes started by tests see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-grader.sqlite3")}

# Tests get their own broker folder, so a `make run` worker on the same checkout never
# consumes a test's messages (with Redis, CI points REDIS_URL at a database of its own).
if not REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "test-broker")
