"""Project-wide checks: secrets that must not reach production."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

E001 = "scribes.E001"
W001 = "scribes.W001"  # the web processes' pools cannot all fit under the server's max_connections
W002 = "scribes.W002"  # more API threads per web process than connections in its pool
#: Shorter keys are refused with DEBUG off (Django's own check warns below 50 too).
SECRET_KEY_MIN_LENGTH = 50
#: The placeholder of docker/.env.example; a copy that was never edited must not start.
EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string"
_HINT = (
    "Set SECRET_KEY to a long random value in the environment "
    '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
)


@register(Tags.security)
def check_secret_key_not_dev_default(app_configs, **kwargs):
    from scribes.settings import DEV_SECRET_KEY

    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY
    if key == DEV_SECRET_KEY:
        return [Error("SECRET_KEY is the development default while DEBUG is off.", hint=_HINT, id=E001)]
    if EXAMPLE_SECRET_KEY in key:
        return [Error("SECRET_KEY is the placeholder of docker/.env.example.", hint=_HINT, id=E001)]
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < 5:
        return [
            Error(
                f"SECRET_KEY has {len(key)} characters ({len(set(key))} distinct); "
                f"at least {SECRET_KEY_MIN_LENGTH} (and 5 distinct) are needed with DEBUG off.",
                hint=_HINT,
                id=E001,
            )
        ]
    return []


@register(Tags.database)
def check_pool_fits_the_server(app_configs, databases=None, **kwargs):
    """WEB_CONCURRENCY x DB_POOL_MAX_SIZE + the workers' connections must fit under max_connections.

    A database check: it runs where Django asks for those (`migrate`,
    `check --database default`), never on a plain start without a server.
    """
    from django.db import connections

    from scribes.dbpool import configured_pool_problem

    if not databases or "default" not in databases:
        return []
    try:
        found = configured_pool_problem(connections["default"])
    except Exception:  # the server is unreachable: other checks and commands say so
        return []
    if found is None:
        return []
    problem, hint = found
    return [Warning(problem, hint=hint, id=W001)]


@register()
def check_web_threads_fit_the_pool(app_configs, **kwargs):
    """WEB_THREADS at most DB_POOL_MAX_SIZE: a thread beyond the pool waits for a connection, then answers 503."""
    if not settings.DB_POOL or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return []
    if settings.WEB_THREADS <= settings.DB_POOL_MAX_SIZE:
        return []
    return [
        Warning(
            f"WEB_THREADS ({settings.WEB_THREADS}) is larger than DB_POOL_MAX_SIZE ({settings.DB_POOL_MAX_SIZE}): "
            "under load the API threads past the pool wait for a database connection and answer 503.",
            hint="Lower WEB_THREADS or raise DB_POOL_MAX_SIZE (mind doctor's database:pool budget); "
            "the event streams' sign-in checks borrow from the same pool.",
            id=W002,
        )
    ]
