"""Shared set-up for benchmarks: Django on a throwaway database, never the dev one."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit


def setup_django(prefix: str) -> tuple[Callable[[], None], str]:
    """Create an empty database (a new PostgreSQL database when DATABASE_URL is
    set, else a temporary SQLite file), run migrations, and return (drop, description)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "scribes.settings"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.setdefault("SCRIBES_VAR_DIR", tempfile.mkdtemp(prefix=f"scribes-{prefix}-var-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measure what production runs: DEBUG on makes Django keep every query.
    os.environ.setdefault("DEBUG", "0")
    # DEBUG off turns on the HTTPS redirect; the test client speaks plain HTTP, as
    # gunicorn does behind the TLS-terminating proxy (which sets X-Forwarded-Proto).
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    # Benchmarks measure the work, not the per-user rate limits they would hit at once.
    for scope in ("SEARCH", "JOBS"):
        os.environ.setdefault(f"THROTTLE_{scope}", "1000000/min")
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(48))
    url = os.environ.get("DATABASE_URL", "")
    if url:
        import psycopg

        parts = urlsplit(url)
        name = f"{prefix}_{os.getpid()}"
        scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
        admin_url = urlunsplit((scheme, parts.netloc, "/postgres", "", ""))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

        def drop():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        where = f"PostgreSQL database {name} (dropped afterwards)"
    else:
        handle, path = tempfile.mkstemp(prefix=f"scribes-{prefix}-", suffix=".sqlite3")
        os.close(handle)
        os.environ["SQLITE_PATH"] = path

        def drop():
            from django.db import connections

            connections.close_all()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)

        where = f"SQLite file {path} (deleted afterwards)"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return drop, where


def require_disposable_redis(connection) -> None:
    """Benchmarks empty the Redis database they use: never database 0 of a shared server."""
    if os.environ.get("SCRIBES_THROWAWAY_REDIS") == "1":
        return
    if int(connection.connection_pool.connection_kwargs.get("db", 0)) == 0:
        raise SystemExit("Refusing to flush Redis db 0; run via `make bench` or set REDIS_URL to another db.")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_alternating(items, first, second) -> tuple[list[float], list[float]]:
    """Seconds of `first(item)` and of `second(item)`, timed in turn for each item, so
    the measured call and its baseline see the same drift of a shared machine."""
    firsts, seconds = [], []
    for item in items:
        for call, timings in ((first, firsts), (second, seconds)):
            started = time.perf_counter()
            call(item)
            timings.append(time.perf_counter() - started)
    return firsts, seconds


def settle_after_bulk_load() -> None:
    """What autovacuum does within a minute of a bulk load, done now: statistics, the
    visibility map (index-only counts) and the GIN index's pending list merged.

    Latency benchmarks measure an account in its steady state, not the first
    minute after 10,000 rows were inserted at once.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
