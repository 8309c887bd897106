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
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.db import connections, router
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
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(alias), _claim_params(connection, job_id, now))
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
    with connection.cursor() as cursor:
        cursor.execute(
            _complete_sql(alias, total is not None, _completion_relaxed()),
            _complete_params(connection, job_id, result, total, now),
        )
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
    with connection.cursor() as cursor:
        cursor.execute(_complete_then_claim_sql(alias, total is not None, _completion_relaxed()), params)
        completed, *values = cursor.fetchone()
    return completed, None if values[0] is None else _row(alias, values)
