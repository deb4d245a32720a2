"""Settings shared by every environment; the environment-specific modules adjust these."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("GRADER_VAR_DIR", default=str(BASE_DIR / "var")))

# Known-insecure default: fine on a laptop, refused by config.settings.production.
INSECURE_SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", default=INSECURE_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.GraderAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "questions",
    "grader",
    "pages",
    "lti",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost of ours: a database outage anywhere further in becomes a 503.
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.middleware.ApiBodySizeLimitMiddleware",
    "lti.session.LtiCookiesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Messages ride in the session, not a cookie of their own: inside an LMS iframe only the
# session's cookie (SameSite=None, see lti.session) reaches the tool.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# The student pages' login; a CSRF refusal is a page of theirs, which an LMS may frame.
LOGIN_URL = "pages-login"
CSRF_FAILURE_VIEW = "pages.views.csrf_failure"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict[str, Any]:
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # A web process and a worker share the file: wait for the other's write lock
        # instead of failing at once, and keep one connection per thread.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # libpq waits for an unanswered connection (a host that drops packets) about two
        # minutes by default; a request should get its 503 long before that. A
        # connect_timeout in the URL's query wins.
        options = cast(dict[str, Any], config.setdefault("OPTIONS", {}))
        options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", default=5, minimum=1))
    return config


DATABASE_URL = env_str("DATABASE_URL", default="")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'grader.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Empty means "no Redis": Celery uses kombu's filesystem transport under var/broker
# and the cache is per-process memory. See README, "Embedded defaults".
REDIS_URL = env_str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "grader",
            # Give up quickly on a Redis that does not answer (see config/cache.py).
            "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Request bodies: the API refuses anything larger with a 413 JSON error before parsing.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", default=256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# While the database is unreachable, requests get a 503 that asks clients to come back
# after this many seconds (Retry-After); see config.middleware.
OUTAGE_RETRY_AFTER_SECONDS = env_int("OUTAGE_RETRY_AFTER_SECONDS", default=5, minimum=1)

# A submit that arrives this long after an attempt's deadline is still accepted:
# it covers network latency and a student pressing submit at the last second.
QUIZ_SUBMIT_GRACE_SECONDS = env_int("QUIZ_SUBMIT_GRACE_SECONDS", default=30, minimum=0)

# --- Code submissions and their grading ----------------------------------------------
# An exercise's data file (admin upload or its folder's data/): at most this many bytes.
EXERCISE_DATA_MAX_BYTES = env_int("EXERCISE_DATA_MAX_BYTES", default=50 * 1024 * 1024, minimum=1)
SUBMISSION_MAX_CODE_BYTES = env_int("SUBMISSION_MAX_CODE_BYTES", default=64 * 1024, minimum=1)
# A submitted .ipynb (as uploaded, or its JSON as sent); its code cells count towards the above.
SUBMISSION_MAX_NOTEBOOK_BYTES = env_int("SUBMISSION_MAX_NOTEBOOK_BYTES", default=2 * 1024 * 1024, minimum=1024)
# A grading attempt that fails on the grader's side (never the student's) is retried
# after GRADING_RETRY_BACKOFF_SECONDS * 2**(attempt-1), up to this many attempts in all.
GRADING_MAX_ATTEMPTS = env_int("GRADING_MAX_ATTEMPTS", default=4, minimum=1)
GRADING_RETRY_BACKOFF_SECONDS = env_int("GRADING_RETRY_BACKOFF_SECONDS", default=5, minimum=0)
# A running job's worker renews its lease every GRADING_HEARTBEAT_SECONDS while the
# sandbox runs; a job whose lease (GRADING_LEASE_SECONDS from the last renewal) passes is
# presumed lost with its worker (killed, machine gone) and tried again at once.
GRADING_HEARTBEAT_SECONDS = env_int("GRADING_HEARTBEAT_SECONDS", default=3, minimum=1)
GRADING_LEASE_SECONDS = env_int("GRADING_LEASE_SECONDS", default=10, minimum=2)
if GRADING_LEASE_SECONDS < 2 * GRADING_HEARTBEAT_SECONDS:
    # One late heartbeat (a busy machine) must not pass for a lost worker.
    raise ImproperlyConfigured(
        f"GRADING_LEASE_SECONDS={GRADING_LEASE_SECONDS} must be at least twice"
        f" GRADING_HEARTBEAT_SECONDS={GRADING_HEARTBEAT_SECONDS}"
    )
# A queued job whose message was sent this long ago, unclaimed, while the broker holds
# fewer messages than there are queued jobs (it lost some: a restart without persistence,
# a broker down at submit time) is sent again. Duplicates are harmless: claims are
# conditional.
GRADING_REDELIVER_AFTER_SECONDS = env_int("GRADING_REDELIVER_AFTER_SECONDS", default=5, minimum=1)
GRADING_SWEEP_SECONDS = env_int("GRADING_SWEEP_SECONDS", default=5, minimum=1)
# A worker process that cannot reach the database keeps the message it took (so the
# worker takes no other) and waits this long for the database, then hands the message
# back to the broker and takes it again; a job it was grading when the database went is
# resumed if the database returns meanwhile. A warm shutdown waits at most this long.
GRADING_DATABASE_WAIT_SECONDS = env_int("GRADING_DATABASE_WAIT_SECONDS", default=30, minimum=1)

# --- LMS integration (LTI 1.3) ------------------------------------------------------
# The tool's public address, as an LMS reaches it: every URL given to platforms (key set,
# and the launch endpoints as they are built) starts with it.
LTI_TOOL_BASE_URL = env_str("LTI_TOOL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# A rotated-out signing key stays in the published key set this long, for platforms
# that cached the key set before the rotation.
LTI_RETIRED_KEY_DAYS = env_int("LTI_RETIRED_KEY_DAYS", default=7, minimum=1)
# Calls to platforms (their key sets; grades and rosters later) give up after this long.
LTI_HTTP_TIMEOUT_SECONDS = env_int("LTI_HTTP_TIMEOUT_SECONDS", default=5, minimum=1)
# A platform's key set is cached this long; a launch signed with a key id the cached set
# lacks fetches it again, at most once per LTI_KEYSET_REFRESH_SECONDS per platform.
LTI_KEYSET_CACHE_SECONDS = env_int("LTI_KEYSET_CACHE_SECONDS", default=3600, minimum=1)
LTI_KEYSET_REFRESH_SECONDS = env_int("LTI_KEYSET_REFRESH_SECONDS", default=10, minimum=1)
# Platform endpoints must be https; plain http only for local tests and demos.
LTI_ALLOW_HTTP = env_bool("LTI_ALLOW_HTTP", default=False)
# How far a launch's exp and iat may be off this server's clock.
LTI_CLOCK_LEEWAY_SECONDS = env_int("LTI_CLOCK_LEEWAY_SECONDS", default=60, minimum=0)
# Grade passback (AGS): a score the LMS did not take for a temporary reason (no answer,
# 429, 5xx) is tried again after LTI_PASSBACK_RETRY_BACKOFF_SECONDS * 2**(try-1), at most
# an hour apart, up to LTI_PASSBACK_MAX_TRIES tries in all (the defaults: about a day),
# then marked failed for an admin to resend. The sweep rings due retries and lost
# messages every LTI_PASSBACK_SWEEP_SECONDS; a passback whose message went unclaimed for
# LTI_PASSBACK_REDELIVER_AFTER_SECONDS is rung again (duplicates are harmless).
LTI_PASSBACK_MAX_TRIES = env_int("LTI_PASSBACK_MAX_TRIES", default=30, minimum=1)
LTI_PASSBACK_RETRY_BACKOFF_SECONDS = env_int("LTI_PASSBACK_RETRY_BACKOFF_SECONDS", default=30, minimum=1)
LTI_PASSBACK_SWEEP_SECONDS = env_int("LTI_PASSBACK_SWEEP_SECONDS", default=30, minimum=1)
LTI_PASSBACK_REDELIVER_AFTER_SECONDS = env_int("LTI_PASSBACK_REDELIVER_AFTER_SECONDS", default=60, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.StrictTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env_rate("LOGIN_THROTTLE_RATE", default="10/min"),
        "login_username": env_rate("LOGIN_USERNAME_THROTTLE_RATE", default="30/hour"),
        "submissions": env_rate("SUBMISSION_THROTTLE_RATE", default="20/min"),
        "checks": env_rate("CHECK_THROTTLE_RATE", default="30/min"),
    },
    # How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the
    # default) ignores the header, which clients can forge, and throttles by the peer
    # address; set 1 behind one proxy (e.g. a TLS-terminating load balancer).
    "NUM_PROXIES": env_int("NUM_PROXIES", default=0, minimum=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Grader API",
    "DESCRIPTION": "Quizzes and code exercises on loss functions and evaluation metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1 schemas are plain JSON Schema, so tests can check real responses against them.
    "OAS_VERSION": "3.1.0",
}

CELERY_TASK_ALWAYS_EAGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
}


# --- Celery -------------------------------------------------------------------------
# With REDIS_URL, Redis is the broker. Without it, kombu's filesystem transport: a
# folder of message files that the web process and the worker share, needing no server
# and no extra package (see README, "Embedded defaults").
def filesystem_broker_options(folder: Path) -> dict[str, Any]:
    """kombu filesystem transport in `folder`; producers and consumers share one folder."""
    for sub_folder in ("messages", "control"):
        (folder / sub_folder).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "messages"),
        "data_folder_out": str(folder / "messages"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # The transport polls the folder; kombu's default of 1 s would add up to a second
        # to every submission's wait on the embedded defaults.
        "polling_interval": 0.05,
    }


CELERY_BROKER_URL = REDIS_URL or "filesystem://"
# kombu's filesystem transport with atomic writes (see workers/filesystem_broker.py).
CELERY_BROKER_TRANSPORT = None if REDIS_URL else "workers.filesystem_broker:Transport"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    # A Redis that accepts connections but never answers (paused, partitioned) must not
    # hang a request that enqueues: give up after 2 s; the sweeper resends later.
    {"visibility_timeout": 3600, "socket_timeout": 2, "socket_connect_timeout": 2}
    if REDIS_URL
    else filesystem_broker_options(VAR_DIR / "broker")
)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"  # workers.queues.Queue.DEFAULT
CELERY_TASK_ROUTES = {
    # Grading work names its queue when sent, one per environment
    # (workers.queues.grading_queue): "grading.numpy", "grading.scientific", "grading.torch".
    # A message sent without one (none is) would wait on the numpy queue, never on the
    # default queue, whose workers may have no sandbox.
    "grader.grade_submission": {"queue": "grading.numpy"},
    "grader.validate_exercise_key": {"queue": "grading.numpy"},
    "grader.run_checks_for_student": {"queue": "grading.numpy"},
    # LTI tasks (grade passback, its sweep) stay on the default queue: short calls to an
    # LMS, each within LTI_HTTP_TIMEOUT_SECONDS, needing no sandbox; every worker takes it.
}
# The database is the source of truth and the queue only a doorbell, but a message is
# still acknowledged only once its task has finished, and put back if the worker process
# running it dies; one message at a time per process, so none waits behind a long job.
# Celery's Django fixup closes every database connection around every task unless this
# is set, which put a fresh PostgreSQL connection (about 5 ms, and cold caches) on each
# grading job; with it, connections live by CONN_MAX_AGE and CONN_HEALTH_CHECKS as in
# web requests (workers.app checks them before each task).
CELERY_DB_REUSE_MAX = 100
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing must not hang a request when the broker is down: give up quickly, the
# committed job is resent by the sweeper.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-overdue-attempts": {
        "task": "grader.expire_overdue_attempts",
        "schedule": env_int("ATTEMPT_EXPIRY_SWEEP_SECONDS", default=60, minimum=1),
    },
    # A sweep not started by the next one's time is dropped, not piled up behind an outage.
    "sweep-grading-jobs": {
        "task": "grader.sweep_grading_jobs",
        "schedule": GRADING_SWEEP_SECONDS,
        "options": {"expires": GRADING_SWEEP_SECONDS},
    },
    # Logins never followed by a launch leave their nonce behind; launches keep their
    # claims a day (for deep linking).
    "purge-lti-launch-data": {"task": "lti.purge_launch_data", "schedule": 3600},
    # Grades for LMS gradebooks: retries whose wait is over, lost messages and senders.
    "sweep-lti-passbacks": {"task": "lti.sweep_passbacks", "schedule": LTI_PASSBACK_SWEEP_SECONDS},
}
