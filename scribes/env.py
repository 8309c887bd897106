"""Typed readers for configuration taken from the environment (12-factor)."""

import os
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, safe to log."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def database_from_url(url: str, *, conn_max_age: int) -> dict:
    """Django's settings for the database at `url` (its query parameters become connection options)."""
    database = dj_database_url.parse(url, conn_max_age=conn_max_age)
    # Workers keep connections between jobs; make Django drop one that broke
    # (database restarted) instead of reusing it.
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.postgresql":
        # Django sets each new session's time zone with a query unless the server
        # already reports exactly "UTC" (Debian's reports "Etc/UTC"). Asking for it in
        # the start-up packet saves that round trip, paid by every ASGI request and
        # every forked job, each on a connection of its own. (PgBouncer in transaction
        # mode needs `ignore_startup_parameters = options` for this.)
        options = database.setdefault("OPTIONS", {})
        given = options.get("options", "")
        if "timezone" not in given.lower():
            options["options"] = f"{given} -c TimeZone=UTC".strip()
    return database
