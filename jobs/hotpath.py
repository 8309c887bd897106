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

#: Shortest JOB_RESULT_TTL for which the completion may commit asynchronously.
RELAXED_COMPLETION_MIN_RESULT_TTL = 600


def _relaxed(connection) -> str:
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


@functools.lru_cache(maxsize=8)
def _claim_sql(alias: str) -> tuple[str, tuple, tuple]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    column = {field.name: qn(field.column) for field in _meta.concrete_fields}
    fields = tuple(_meta.concrete_fields)
    sql = (
        f"UPDATE {qn(_meta.db_table)} SET {column['status']} = %s, {column['started_at']} = %s, "
        f"{column['completed_at']} = NULL, {column['attempts']} = {column['attempts']} + 1, "
        f"{column['updated_at']} = %s "
        f"WHERE {column['job_id']} = %s AND {column['status']} = %s{_relaxed(connection)} "
        f"RETURNING {', '.join(qn(field.column) for field in fields)}"
    )
    converters = []
    for index, field in enumerate(fields):
        expression = Col(_meta.db_table, field)
        found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if found:
            converters.append((index, tuple(found), expression))
    return sql, tuple(field.attname for field in fields), tuple(converters)


def claim(*, job_id, now) -> BackgroundJob | None:
    """queued → running (attempts + 1) and return the row; None when the row is not queued."""
    alias = _database()
    connection = connections[alias]
    sql, attnames, converters = _claim_sql(alias)
    prepared_now = _meta.get_field("started_at").get_db_prep_save(now, connection)
    params = [
        JobStatus.RUNNING.value,
        prepared_now,
        prepared_now,
        _meta.pk.get_db_prep_value(job_id, connection),
        JobStatus.QUEUED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchone()
        # SQLite commits an UPDATE ... RETURNING once the statement is stepped to its end.
        cursor.fetchall()
    if values is None:
        return None
    values = list(values)
    for index, functions, expression in converters:
        for function in functions:
            values[index] = function(values[index], expression, connection)
    return BackgroundJob.from_db(alias, list(attnames), values)


@functools.lru_cache(maxsize=8)
def _complete_sql(alias: str, with_counts: bool, relaxed: bool) -> str:
    connection = connections[alias]
    qn = connection.ops.quote_name
    column = {field.name: qn(field.column) for field in _meta.concrete_fields}
    counts = (
        f"{column['processed_items']} = %s, {column['total_items']} = %s"
        if with_counts
        else f"{column['processed_items']} = {column['total_items']}"
    )
    return (
        f"UPDATE {qn(_meta.db_table)} SET {column['status']} = %s, {column['result_data']} = %s, "
        f"{column['progress_percent']} = 100, {column['error_message']} = '', "
        f"{column['completed_at']} = %s, {column['updated_at']} = %s, {counts} "
        f"WHERE {column['job_id']} = %s AND {column['status']} = %s{_relaxed(connection) if relaxed else ''}"
    )


def complete(*, job_id, result: Any, total: int | None, now) -> int:
    """running → completed with the result; how many rows changed (0 or 1).

    `total` sets processed = total = that figure; None sets processed = total.
    """
    alias = _database()
    connection = connections[alias]
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
    params += [_meta.pk.get_db_prep_value(job_id, connection), JobStatus.RUNNING.value]
    with connection.cursor() as cursor:
        relaxed = settings.JOB_RESULT_TTL >= RELAXED_COMPLETION_MIN_RESULT_TTL
        cursor.execute(_complete_sql(alias, total is not None, relaxed), params)
        return cursor.rowcount
