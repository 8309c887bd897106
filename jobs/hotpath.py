"""The two statements every tracked job runs (claim and complete), compiled once per database.

The ORM builds, compiles and converts an UPDATE anew on every call: about 1 ms
of Python per statement here, against a raw no-op RQ job of 2.5-5 ms, so it
was most of the tracking overhead per job (see bench/jobs.py). These are the
same conditional UPDATEs written once as SQL text per database alias; values
still go through the fields' `get_db_prep_value` and rows come back through
the fields' converters and `Model.from_db`, as the ORM does.

Both commit asynchronously on PostgreSQL (`synchronous_commit` off for that
one statement's transaction; the task's own writes keep durable commits). The
wait for the WAL flush was the largest single cost left per job (about 1.3 ms
of the completion here). What it risks: a PostgreSQL crash within a fraction
of a second (3 × wal_writer_delay) of the commit can undo it, leaving the row
queued or running. RQ holds the truth meanwhile, and the reconciler repairs
exactly that: a lost claim or completion is completed from the result RQ keeps
(`jobs.reconciler`). So the completion is relaxed only while RQ keeps results
long enough for the reconciler to find them (JOB_RESULT_TTL ≥ 10 minutes).

On PostgreSQL they also run as prepared statements (`_executed`): psycopg
prepares each on the worker's connection after `prepare_threshold` runs
(DATABASE_PREPARED_STATEMENTS in settings), so PostgreSQL plans it once per
connection instead of once per job.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db.models.expressions import Col

from jobs.models import BackgroundJob, JobStatus

_meta = BackgroundJob._meta
_ATTNAMES = [field.attname for field in _meta.concrete_fields]

#: Shortest JOB_RESULT_TTL for which the completion may commit asynchronously.
RELAXED_COMPLETION_MIN_RESULT_TTL = 600


def async_commit_term(connection) -> str:
    """A WHERE term that turns off synchronous_commit for this statement's transaction.

    Evaluated for the one row the primary key finds, and always true; no extra
    round trip or explicit transaction. Empty on databases other than PostgreSQL.
    """
    if connection.vendor != "postgresql":
        return ""
    return " AND set_config('synchronous_commit', 'off', true) = 'off'"


logger = logging.getLogger("jobs.hotpath")

#: SQLSTATEs of a prepared statement that the server no longer has, or already
#: has under that name (a pooler ran it on another server connection), or whose
#: result columns a migration changed. The statement did nothing; it is safe to
#: send again unprepared.
LOST_PREPARED_STATEMENT = {"26000", "42P05", "0A000"}

#: Set once a prepared statement was lost: this process sends its statements
#: unprepared from then on.
_unprepared = False


#: Each Django connection's server-binding psycopg cursor, kept between jobs:
#: {DatabaseWrapper: (timezone, cursor)}. Building a cursor
#: (an adapters map, a transformer, a timezone loader) and its dumpers and
#: loaders afresh for every statement cost the worker 0.12 ms of CPU per job,
#: about a third of what the statement costs it (bench/jobs.py, fifth
#: profile). Keyed weakly: a thread's DatabaseWrapper goes when its thread does.
_kept_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextmanager
def _cursor(connection) -> Iterator[Any]:
    """Django's cursor, except on PostgreSQL, where it binds parameters on the server.

    Django's psycopg cursor binds on the client: psycopg quotes every value
    into the SQL text in Python, and PostgreSQL parses and plans that text on
    every call. A server-binding cursor sends the same text with the values
    apart, so psycopg prepares it once per connection (from the
    `prepare_threshold`-th run; never when that is None), and later calls only
    bind and execute (bench/jobs.py, fourth profile). It is built as Django's
    `create_cursor` builds one and wrapped as Django wraps it, so errors are
    Django's and queries are logged and counted like any other; it is built
    once per database connection and time zone, re-wrapped per statement,
    and left open for the next one.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if _unprepared:
        connection.connection.prepare_threshold = None
    timezone, cursor = _kept_cursors.get(connection, (None, None))
    # A reconnect (restart, idle timeout, CONN_MAX_AGE) or a new time zone needs a new cursor.
    stale = cursor is None or cursor.closed or cursor.connection is not connection.connection
    if stale or timezone != connection.timezone:
        cursor = _new_cursor(connection)
        _kept_cursors[connection] = (connection.timezone, cursor)
    if connection.queries_logged:
        yield _server_bound_debug_cursor_class()(cursor, connection)
    else:
        yield connection.make_cursor(cursor)


def _new_cursor(connection):
    from django.db.backends.postgresql.base import ServerBindingCursor

    cursor = ServerBindingCursor(connection.connection)
    cursor.adapters.register_loader("timestamptz", _iso_tz_loader(connection.timezone))
    return cursor


@functools.cache
def _iso_tz_loader(timezone):
    """Django's timestamptz loader for `timezone`, parsing with `datetime.fromisoformat`.

    Django's loader (the connection's time zone put in place of the parsed
    offset, or dropped) extends psycopg's pure-Python parser, 3.4 µs a value
    against 1.0 for `fromisoformat` (C) in a tight loop. A claim returns three
    timestamps; in the worker loop this loader saved 0.07-0.17 ms of worker
    CPU per job (bench/jobs.py, sixth profile). What `fromisoformat` refuses
    (BC, years past 9999, infinity) or cannot move to the session's time zone
    goes to Django's loader, as does everything if psycopg no longer exposes
    that time zone.
    """
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class IsoTzLoader(BaseTzLoader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            # psycopg's parser returns values in the session's time zone, kept here.
            self._session_tz = getattr(self, "_timezone", None)

        def load(self, data):
            if self._session_tz is not None:
                try:
                    parsed = datetime.fromisoformat(str(data, "ascii")).astimezone(self._session_tz)
                except (ValueError, OverflowError):
                    pass
                else:
                    return parsed.replace(tzinfo=self.timezone)
            return super().load(data)

    IsoTzLoader.timezone = timezone
    return IsoTzLoader


@functools.cache
def _server_bound_debug_cursor_class():
    from django.db.backends.postgresql.base import CursorDebugWrapper
    from django.db.backends.utils import CursorWrapper

    class ServerBoundDebugCursor(CursorDebugWrapper):
        """Logs a statement with its values, as Django does under server-side binding.

        Django's debug cursor logs psycopg's last query text, which holds
        placeholders, and nothing at all for a prepared statement.
        """

        def execute(self, sql, params=None):
            try:
                logged = self.db.ops.compose_sql(sql, params)
            except Exception:  # a value psycopg cannot quote: log the text alone
                logged = sql
            with self.debug_sql(logged, params):
                return CursorWrapper.execute(self, sql, params)

    return ServerBoundDebugCursor


def _lost_prepared_statement(exc: DatabaseError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in LOST_PREPARED_STATEMENT


@contextmanager
def _executed(connection, sql: str, params: list) -> Iterator[Any]:
    """A cursor that has run `sql`; a lost prepared statement is logged, then sent unprepared."""
    global _unprepared
    with _cursor(connection) as cursor:
        try:
            cursor.execute(sql, params)
        except DatabaseError as exc:
            if connection.in_atomic_block or not _lost_prepared_statement(exc):
                raise
            _unprepared = True
            logger.warning(
                "PostgreSQL lost a prepared statement of the job hot path (%s). A connection pooler in "
                "transaction mode without prepared-statement support (pgbouncer before 1.21, or "
                "max_prepared_statements = 0) runs each statement on another server connection; a migration "
                "can also change a statement's columns under a running worker. This process now sends its "
                "statements unprepared. Set DATABASE_PREPARED_STATEMENTS=0 if a pooler is the cause.",
                str(exc).strip(),
            )
            connection.connection.prepare_threshold = None
            cursor.execute(sql, params)
        yield cursor


def _database() -> str:
    return router.db_for_write(BackgroundJob)


def supported(alias: str) -> bool:
    """UPDATE ... RETURNING: PostgreSQL, and SQLite from 3.35; other databases use the ORM."""
    connection = connections[alias]
    return connection.vendor in ("postgresql", "sqlite") and connection.features.can_return_columns_from_insert


def _columns(connection) -> dict[str, str]:
    qn = connection.ops.quote_name
    return {field.name: qn(field.column) for field in _meta.concrete_fields}


@functools.lru_cache(maxsize=8)
def _claim_sql(alias: str, relaxed: bool = True) -> str:
    connection = connections[alias]
    column = _columns(connection)
    return (
        f"UPDATE {connection.ops.quote_name(_meta.db_table)} SET {column['status']} = %s, "
        f"{column['started_at']} = %s, {column['completed_at']} = NULL, "
        f"{column['attempts']} = {column['attempts']} + 1, {column['updated_at']} = %s "
        f"WHERE {column['job_id']} = %s AND {column['status']} = %s{async_commit_term(connection) if relaxed else ''} "
        f"RETURNING {', '.join(column[field.name] for field in _meta.concrete_fields)}"
    )


@functools.lru_cache(maxsize=8)
def _complete_sql(alias: str, with_counts: bool, relaxed: bool) -> str:
    connection = connections[alias]
    column = _columns(connection)
    counts = (
        f"{column['processed_items']} = %s, {column['total_items']} = %s"
        if with_counts
        else f"{column['processed_items']} = {column['total_items']}"
    )
    return (
        f"UPDATE {connection.ops.quote_name(_meta.db_table)} SET {column['status']} = %s, "
        f"{column['result_data']} = %s, {column['progress_percent']} = 100, {column['error_message']} = '', "
        f"{column['completed_at']} = %s, {column['updated_at']} = %s, {counts} "
        f"WHERE {column['job_id']} = %s AND {column['status']} = %s{async_commit_term(connection) if relaxed else ''}"
    )


@functools.lru_cache(maxsize=8)
def _complete_then_claim_sql(alias: str, with_counts: bool, relaxed: bool) -> str:
    """One PostgreSQL statement: complete one row, claim another, return (completed count, claimed row).

    Both data-modifying CTEs always run to the end; the LEFT JOIN yields one
    result row even when nothing was claimed (its columns are then NULL).
    `relaxed` covers the whole transaction, so the claim is relaxed only with
    the completion.
    """
    column = _columns(connections[alias])
    claimed = ", ".join(f"claimed.{column[field.name]}" for field in _meta.concrete_fields)
    return (
        f"WITH done AS ({_complete_sql(alias, with_counts, relaxed)} RETURNING 1), "
        f"claimed AS ({_claim_sql(alias, relaxed)}) "
        f"SELECT (SELECT count(*) FROM done), {claimed} FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE"
    )


@functools.lru_cache(maxsize=8)
def _converters(alias: str) -> tuple:
    connection = connections[alias]
    converters = []
    for index, field in enumerate(_meta.concrete_fields):
        expression = Col(_meta.db_table, field)
        found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if found:
            converters.append((index, tuple(found), expression))
    return tuple(converters)


def _row(alias: str, values) -> BackgroundJob:
    """A model instance from a RETURNING row, through the fields' converters, as the ORM loads one."""
    connection = connections[alias]
    values = list(values)
    for index, functions, expression in _converters(alias):
        for function in functions:
            values[index] = function(values[index], expression, connection)
    return BackgroundJob.from_db(alias, _ATTNAMES, values)


def _claim_params(connection, job_id, now) -> list:
    prepared_now = _meta.get_field("started_at").get_db_prep_save(now, connection)
    return [
        JobStatus.RUNNING.value,
        prepared_now,
        prepared_now,
        _meta.pk.get_db_prep_value(job_id, connection),
        JobStatus.QUEUED.value,
    ]


def _complete_params(connection, job_id, result, total, now) -> list:
    prepared_now = _meta.get_field("completed_at").get_db_prep_save(now, connection)
    params = [
        JobStatus.COMPLETED.value,
        # get_db_prep_save stores None as SQL NULL, as the ORM's update() does.
        _meta.get_field("result_data").get_db_prep_save(result, connection),
        prepared_now,
        prepared_now,
    ]
    if total is not None:
        params += [total, total]
    return params + [_meta.pk.get_db_prep_value(job_id, connection), JobStatus.RUNNING.value]


def _completion_relaxed() -> bool:
    return settings.JOB_RESULT_TTL >= RELAXED_COMPLETION_MIN_RESULT_TTL


def claim(*, job_id, now) -> BackgroundJob | None:
    """queued → running (attempts + 1) and return the row; None when the row is not queued."""
    alias = _database()
    connection = connections[alias]
    with _executed(connection, _claim_sql(alias), _claim_params(connection, job_id, now)) as cursor:
        values = cursor.fetchone()
        # SQLite commits an UPDATE ... RETURNING once the statement is stepped to its end.
        cursor.fetchall()
    return None if values is None else _row(alias, values)


def complete(*, job_id, result: Any, total: int | None, now) -> int:
    """running → completed with the result; how many rows changed (0 or 1).

    `total` sets processed = total = that figure; None sets processed = total.
    """
    alias = _database()
    connection = connections[alias]
    with _executed(
        connection,
        _complete_sql(alias, total is not None, _completion_relaxed()),
        _complete_params(connection, job_id, result, total, now),
    ) as cursor:
        return cursor.rowcount


def can_complete_then_claim(alias: str) -> bool:
    """Data-modifying CTEs: PostgreSQL only (SQLite runs the two statements in-process anyway)."""
    return connections[alias].vendor == "postgresql"


def complete_then_claim(
    *, completed_job_id, result: Any, total: int | None, completed_at, job_id, now
) -> tuple[int, BackgroundJob | None]:
    """`complete` one row and `claim` another in one round trip: (rows completed, claimed row or None)."""
    alias = _database()
    connection = connections[alias]
    params = _complete_params(connection, completed_job_id, result, total, completed_at)
    params += _claim_params(connection, job_id, now)
    sql = _complete_then_claim_sql(alias, total is not None, _completion_relaxed())
    with _executed(connection, sql, params) as cursor:
        completed, *values = cursor.fetchone()
    return completed, None if values[0] is None else _row(alias, values)
