"""The web process's database pool: a busy pool is a 503, and the pools must fit the server.

Processes that serve requests borrow PostgreSQL connections from Django's psycopg
pool (settings: DB_POOL, DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE, DB_POOL_TIMEOUT). A
request that waits DB_POOL_TIMEOUT seconds without getting one fails with
`psycopg_pool.PoolTimeout`, which Django wraps in its own OperationalError; it is
answered 503 with `Retry-After` (JSON), never 500: by `DatabaseBusyMiddleware` for
any view (and by the API's exception handler and the 500 handler for the rest).

`pool_capacity_problem` is the arithmetic an operator needs: the processes' pools,
plus the workers' connections, must fit under the server's `max_connections` less
its reserved slots, or the pool fills while the server refuses every new client.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin

from common.diagnostics import FAIL, OK, Finding, diagnostic

logger = logging.getLogger("scribes.dbpool")

BUSY_DETAIL = "The server is busy (no database connection free); retry shortly."


def is_pool_exhausted(exc: BaseException | None) -> bool:
    """True when `exc` (or what it wraps) is the pool's "no connection within the timeout"."""
    try:
        from psycopg_pool import PoolTimeout, TooManyRequests
    except ImportError:  # SQLite-only installs
        return False
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (PoolTimeout, TooManyRequests)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_after_seconds() -> int:
    return max(1, math.ceil(settings.DB_POOL_TIMEOUT))


def busy_response() -> JsonResponse:
    response = JsonResponse({"detail": BUSY_DETAIL}, status=503)
    response["Retry-After"] = str(retry_after_seconds())
    return response


class DatabaseBusyMiddleware(MiddlewareMixin):
    """A view that could not get a pooled connection in time answers 503 + Retry-After.

    Django's MiddlewareMixin makes it sync and async capable; Django calls
    `process_exception` for the view's exceptions.
    """

    def process_exception(self, request, exception):
        if is_pool_exhausted(exception):
            logger.warning("%s %s: 503, %s", request.method, request.path, exception)
            return busy_response()
        return None


# --- capacity: processes x pool size under max_connections -----------------------------------


def pool_capacity_problem(
    *,
    max_connections: int,
    reserved_connections: int,
    web_processes: int,
    pool_max_size: int,
    other_connections: int = 0,
) -> tuple[str, str] | None:
    """(problem, hint) when the configured pools cannot all be open at once on this server; else None.

    `reserved_connections` are the server's slots ordinary users cannot take
    (superuser_reserved_connections + reserved_connections); `other_connections`
    those the rest of the deployment holds (workers, their jobs, the scheduler,
    operators' shells).
    """
    available = max_connections - reserved_connections
    needed = web_processes * pool_max_size + other_connections
    if needed <= available:
        return None
    fitting = max(0, (available - other_connections) // max(1, web_processes))
    problem = (
        f"{web_processes} web process(es) x DB_POOL_MAX_SIZE={pool_max_size} + {other_connections} other "
        f"connection(s) = {needed} PostgreSQL connections, but the server accepts {available} "
        f"(max_connections={max_connections} less {reserved_connections} reserved)"
    )
    hint = (
        f"Lower DB_POOL_MAX_SIZE to {fitting} or fewer, run fewer web processes (WEB_CONCURRENCY), "
        f"or raise the server's max_connections (postgresql.conf; needs a restart)."
    )
    return problem, hint


def server_limits(connection) -> tuple[int, int]:
    """(max_connections, reserved slots) of the PostgreSQL server behind `connection`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting FROM pg_settings "
            "WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
        )
        values = {name: int(value) for name, value in cursor.fetchall()}
    reserved = values.get("superuser_reserved_connections", 0) + values.get("reserved_connections", 0)
    return values["max_connections"], reserved


def web_processes() -> int:
    """Web processes the deployment runs: WEB_CONCURRENCY (gunicorn's own variable), else 1."""
    from common.env import env_int

    return env_int("WEB_CONCURRENCY", 1, minimum=1)


def other_connections() -> int:
    """Connections outside the web pools: DB_OTHER_CONNECTIONS, else 2 per worker purpose + the scheduler + 2 spare."""
    from common import queues
    from common.env import env_int

    # A worker keeps one connection and its forked job opens another.
    default = 2 * len(queues.ALL) + 1 + 2
    return env_int("DB_OTHER_CONNECTIONS", default, minimum=0)


def configured_pool_problem(connection=None) -> tuple[str, str] | None:
    """`pool_capacity_problem` for this deployment's settings against the server `connection` reaches.

    None on SQLite or with the pool off. For `manage.py doctor`.
    """
    from django.db import connection as default_connection

    connection = connection or default_connection
    if connection.vendor != "postgresql" or not settings.DB_POOL:
        return None
    max_connections, reserved = server_limits(connection)
    return pool_capacity_problem(
        max_connections=max_connections,
        reserved_connections=reserved,
        web_processes=web_processes(),
        pool_max_size=settings.DB_POOL_MAX_SIZE,
        other_connections=other_connections(),
    )


@diagnostic("database:pool")
def check_pool_capacity() -> Finding:
    """Doctor: web processes × pool size (and the workers' connections) against the server's max_connections."""
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.DB_POOL:
        return Finding("database:pool", OK, "No connection pool to size (SQLite, or DB_POOL=0).")
    problem = configured_pool_problem(connection)
    if problem is None:
        return Finding(
            "database:pool",
            OK,
            f"Connection pools fit: {web_processes()} web process(es) × DB_POOL_MAX_SIZE={settings.DB_POOL_MAX_SIZE} "
            f"and {other_connections()} other connection(s) stay under the server's max_connections.",
        )
    message, hint = problem
    return Finding("database:pool", FAIL, message, hint)
