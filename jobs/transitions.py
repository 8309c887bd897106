"""Every status change of a job row, each one conditional `UPDATE ... RETURNING`: the one place they are written.

Each transition moves a row only from the statuses it names, so two parties
racing (a late worker finish and an operator's "mark failed", the reconciler)
cannot overwrite each other: whoever moves the row first gets it back, the
other gets nothing. The statements are static SQL run through Django's cursor
(`Manager.raw`, which loads the returned rows through the fields' converters,
as any query does); PostgreSQL and SQLite (3.35+), the databases Scribes runs
on, both return the changed rows.

What must happen on a change (the live event stream, metrics) hangs on one
observer point: `observe(name, callback)`, called with the transition's name and
the rows it changed, inside the transaction that changed them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections, router

from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus

#: The transitions' names, as observers receive them.
CREATE, CLAIM, PROGRESS, COMPLETE, FAIL, CANCEL, RETRY, START_RUNNING, RESUME = (
    "create",
    "claim",
    "progress",
    "complete",
    "fail",
    "cancel",
    "retry",
    "start_running",
    "resume",
)

Observer = Callable[[str, list[BackgroundJob]], None]
_OBSERVERS: dict[str, Observer] = {}


def observe(name: str, callback: Observer) -> None:
    """Call `callback(transition, rows)` after every transition that changed rows; `name` again replaces it.

    Observers run inside the caller's transaction: work that must wait for the
    commit (a publish, a metric) registers its own `transaction.on_commit`.
    """
    _OBSERVERS[name] = callback


def unobserve(name: str) -> None:
    """Remove the observer registered as `name` (no error when there is none)."""
    _OBSERVERS.pop(name, None)


def _notify(transition: str, rows: list[BackgroundJob]) -> list[BackgroundJob]:
    if rows:
        for callback in _OBSERVERS.values():
            callback(transition, rows)
    return rows


_meta = BackgroundJob._meta
_COLUMNS = ", ".join(f'"{field.column}"' for field in _meta.concrete_fields)


def _db():
    alias = router.db_for_write(BackgroundJob)
    return alias, connections[alias]


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _update(transition: str | None, set_sql: str, where_sql: str, params: list, alias: str) -> list[BackgroundJob]:
    sql = f'UPDATE "{_meta.db_table}" SET {set_sql} WHERE {where_sql} RETURNING {_COLUMNS}'
    rows = list(BackgroundJob.objects.raw(sql, params, using=alias))
    return _notify(transition, rows) if transition else rows


def _prep(field: str, value: Any, connection) -> Any:
    # As the ORM's update() prepares a value (UUIDs, JSON, aware datetimes per database).
    return _meta.get_field(field).get_db_prep_save(value, connection)


def _ids(job_ids: Iterable, connection) -> list:
    return [_meta.pk.get_db_prep_value(job_id, connection) for job_id in job_ids]


def claim(*, job_id, now) -> BackgroundJob | None:
    """queued → running, attempts + 1; the claimed row, or None when it was not queued."""
    alias, connection = _db()
    rows = _update(
        CLAIM,
        '"status" = %s, "started_at" = %s, "completed_at" = NULL, "attempts" = "attempts" + 1, "updated_at" = %s',
        '"job_id" = %s AND "status" = %s',
        [
            JobStatus.RUNNING.value,
            _prep("started_at", now, connection),
            _prep("updated_at", now, connection),
            *_ids([job_id], connection),
            JobStatus.QUEUED.value,
        ],
        alias,
    )
    return rows[0] if rows else None


def progress(*, job_id, processed: int, total: int, now) -> BackgroundJob | None:
    """A running row's progress; never backwards (a smaller `processed` changes nothing)."""
    alias, connection = _db()
    percent = 100 if total == 0 else min(100, processed * 100 // total)
    rows = _update(
        PROGRESS,
        '"processed_items" = %s, "total_items" = %s, "progress_percent" = %s, "updated_at" = %s',
        '"job_id" = %s AND "status" = %s AND "processed_items" <= %s',
        [
            processed,
            total,
            percent,
            _prep("updated_at", now, connection),
            *_ids([job_id], connection),
            JobStatus.RUNNING.value,
            processed,
        ],
        alias,
    )
    return rows[0] if rows else None


def hand_off(*, job_id, from_rq_job_id: str, to_rq_job_id: str, now) -> BackgroundJob | None:
    """A running row's work continues in another RQ job; None when it left running under `from_rq_job_id`.

    Neither status nor progress changes, so observers are not called.
    """
    alias, connection = _db()
    params = [to_rq_job_id, _prep("updated_at", now, connection), *_ids([job_id], connection)]
    where = '"job_id" = %s AND "status" = %s AND "rq_job_id" = %s'
    rows = _update(
        None, '"rq_job_id" = %s, "updated_at" = %s', where, [*params, JobStatus.RUNNING.value, from_rq_job_id], alias
    )
    return rows[0] if rows else None


def resume(*, job_id, rq_job_id: str, now) -> BackgroundJob | None:
    """A continuation of a row starts: the row if it is still `rq_job_id`'s and active, else None.

    Running: nothing changes (no write). Queued (RQ retries a continuation that
    failed): → running, a new attempt; `started_at` stays the row's first start.
    """
    alias, connection = _db()
    params = [JobStatus.RUNNING.value, _prep("updated_at", now, connection), *_ids([job_id], connection), rq_job_id]
    set_sql, where = (
        '"attempts" = "attempts" + 1, "status" = %s, "updated_at" = %s',
        '"job_id" = %s AND "rq_job_id" = %s',
    )
    rows = _update(RESUME, set_sql, where + ' AND "status" = %s', [*params, JobStatus.QUEUED.value], alias)
    return rows[0] if rows else BackgroundJob.objects.filter(pk=job_id, rq_job_id=rq_job_id, status="running").first()


def complete(
    *,
    job_id,
    result: Any,
    total: int | None,
    now,
    from_statuses: Iterable[str] = (JobStatus.RUNNING,),
    rq_job_id: str | None = None,
) -> BackgroundJob | None:
    """→ completed with `result`, progress 100%; None when the row was not in `from_statuses`.

    `total` sets processed = total = that figure; None sets processed = total.
    With `rq_job_id`, only the row whose current attempt is that RQ job changes.
    """
    alias, connection = _db()
    statuses = [str(status) for status in from_statuses]
    counts = '"processed_items" = "total_items"' if total is None else '"processed_items" = %s, "total_items" = %s'
    where = f'"job_id" = %s AND "status" IN ({_placeholders(statuses)})'
    params = [
        JobStatus.COMPLETED.value,
        # None is stored as SQL NULL, as the ORM's update() does.
        _prep("result_data", result, connection),
        _prep("completed_at", now, connection),
        _prep("updated_at", now, connection),
        *([] if total is None else [total, total]),
        *_ids([job_id], connection),
        *statuses,
    ]
    if rq_job_id is not None:
        where += ' AND "rq_job_id" = %s'
        params.append(rq_job_id)
    rows = _update(
        COMPLETE,
        '"status" = %s, "result_data" = %s, "progress_percent" = 100, "error_message" = \'\', '
        f'"completed_at" = %s, "updated_at" = %s, {counts}',
        where,
        params,
        alias,
    )
    return rows[0] if rows else None


def fail(
    *,
    job_ids: Iterable,
    error: str,
    final: bool,
    now,
    from_statuses: Iterable[str] = ACTIVE_STATUSES,
    rq_job_id: str | None = None,
    details: dict[str, str] | None = None,
) -> list[BackgroundJob]:
    """A failed attempt: → failed when `final`, else back to queued for RQ's retry; the rows changed.

    Only rows in `from_statuses` change; with `rq_job_id`, only those whose
    current attempt is that RQ job (a late failure of a replaced attempt must
    not fail the new one). `details` sets more columns (the traceback and log).
    """
    alias, connection = _db()
    ids = _ids(job_ids, connection)
    statuses = [str(status) for status in from_statuses]
    if not ids or not statuses:
        return []
    if final:
        set_sql = '"status" = %s, "error_message" = %s, "completed_at" = %s, "updated_at" = %s'
        params = [
            JobStatus.FAILED.value,
            error,
            _prep("completed_at", now, connection),
            _prep("updated_at", now, connection),
        ]
    else:
        set_sql = '"status" = %s, "error_message" = %s, "updated_at" = %s'
        params = [JobStatus.QUEUED.value, error, _prep("updated_at", now, connection)]
    # The operators' view of the failure (error_traceback, log), when the runner has it.
    for column, value in (details or {}).items():
        set_sql += f', "{_meta.get_field(column).column}" = %s'
        params.append(value)
    where = f'"job_id" IN ({_placeholders(ids)}) AND "status" IN ({_placeholders(statuses)})'
    params += [*ids, *statuses]
    if rq_job_id is not None:
        where += ' AND "rq_job_id" = %s'
        params.append(rq_job_id)
    return _update(FAIL, set_sql, where, params, alias)


def cancel(*, job_ids: Iterable, reason: str, now) -> list[BackgroundJob]:
    """queued or running → cancelled; the rows changed."""
    alias, connection = _db()
    ids = _ids(job_ids, connection)
    if not ids:
        return []
    statuses = [str(status) for status in ACTIVE_STATUSES]
    return _update(
        CANCEL,
        '"status" = %s, "error_message" = %s, "completed_at" = %s, "updated_at" = %s',
        f'"job_id" IN ({_placeholders(ids)}) AND "status" IN ({_placeholders(statuses)})',
        [
            JobStatus.CANCELLED.value,
            reason,
            _prep("completed_at", now, connection),
            _prep("updated_at", now, connection),
            *ids,
            *statuses,
        ],
        alias,
    )


def retry(*, job_id, from_status: str, rq_job_id: str, now) -> BackgroundJob | None:
    """A new attempt of a finished (or stuck) row: → queued under `rq_job_id`, progress, result and error cleared.

    `attempts` keeps counting (the claim adds the new one). None when the row was
    no longer in `from_status`.
    """
    alias, connection = _db()
    rows = _update(
        RETRY,
        '"status" = %s, "rq_job_id" = %s, "progress_percent" = 0, "processed_items" = 0, "total_items" = 0, '
        '"result_data" = NULL, "error_message" = \'\', "started_at" = NULL, "completed_at" = NULL, "updated_at" = %s',
        '"job_id" = %s AND "status" = %s',
        [
            JobStatus.QUEUED.value,
            rq_job_id,
            _prep("updated_at", now, connection),
            *_ids([job_id], connection),
            from_status,
        ],
        alias,
    )
    return rows[0] if rows else None


def create_queued(*, rows: list[BackgroundJob]) -> list[BackgroundJob]:
    """Insert new queued rows (one INSERT for a batch); their RQ jobs are the caller's to enqueue."""
    if len(rows) == 1:
        rows[0].save(force_insert=True)
    else:
        BackgroundJob.objects.bulk_create(rows)
    return _notify(CREATE, rows)


def start_running(*, job_type: str, rq_job_id: str, queue: str, params: dict, now) -> BackgroundJob:
    """The row of a job that RQ started without one (a periodic run): created running, attempt 1."""
    row = BackgroundJob.objects.create(
        job_type=job_type,
        rq_job_id=rq_job_id,
        queue=queue,
        params=params,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=now,
    )
    _notify(START_RUNNING, [row])
    return row
