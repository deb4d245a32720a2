"""Development on a laptop: `make run`. Embedded defaults, debug on."""

from __future__ import annotations

from config.env import env_bool
from config.settings.base import *  # noqa: F403
from config.settings.base import MIDDLEWARE, STORAGES

DEBUG = env_bool("DEBUG", default=True)

# Static files come from the app folders (runserver in debug); whitenoise and its
# manifest are for collected files in production.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise.")]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
