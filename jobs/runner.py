"""Worker side of a tracked task: runs the body and keeps the row in step with RQ.

Runs inside the RQ work-horse. The row moves queued → running before the body
starts and running → completed/failed after it ends; an exception is recorded on
the row and re-raised so RQ records the failure too (and retries when the task
allows). Failures that never reach this code are caught by `jobs.callbacks` and
by `ScribesWorker.handle_work_horse_killed`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import close_old_connections, connections
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from jobs import services
from jobs.models import BackgroundJob
from jobs.registry import TaskSpec

logger = logging.getLogger("jobs.runner")


class JobContext:
    """What a task body gets: its row, a progress call, and a logger."""

    def __init__(self, row: BackgroundJob):
        self.row = row
        self.job_id = row.job_id
        self.log = logging.LoggerAdapter(logger, {"job_id": str(row.job_id)})
        self._processed = 0
        self._written: tuple[int, int] | None = None

    @property
    def user(self):
        # Loaded on first use: most tasks never ask, and the row comes from an
        # UPDATE ... RETURNING that cannot join the user.
        return self.row.user

    def progress(self, processed: int, total: int) -> None:
        """Report `processed` of `total` items done; the percent is derived, never decreases.

        A call that repeats the last written figures writes nothing.
        """
        self._processed = max(self._processed, processed)
        if self._written == (self._processed, total):
            return
        services.background_job_set_progress(job_id=self.job_id, processed=self._processed, total=total)
        self._written = (self._processed, total)


def describe_failure(exc: BaseException, *, timeout: int | None = None) -> str:
    if isinstance(exc, JobTimeoutException):
        limit = f" after {timeout} s" if timeout else ""
        return f"Job timed out{limit} (JOB_TIMEOUT); it was stopped by the worker."
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_final_attempt(rq_job) -> bool:
    # RQ calls on_failure on every failed attempt; only the last one is final.
    return rq_job is None or not rq_job.should_retry


def _drop_unusable_connections() -> None:
    """`close_old_connections`, except that a healthy SQLite connection is kept.

    A horse may inherit a connection the database dropped (restart, idle
    timeout); never run a job on it. But SQLite runs with CONN_MAX_AGE 0, for
    which `close_old_connections` closes every connection: a SimpleWorker then
    reopened the file for every job, and closing the last connection also
    checkpoints the WAL (the largest cost per job in the profile). A SQLite file
    cannot drop a connection, so only one left in a transaction or after an
    error is closed; server databases keep Django's rules (age, health check).
    """
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite" or conn.connection is None:
            conn.close_if_unusable_or_obsolete()
        elif conn.errors_occurred or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
            conn.close()


def run_tracked(spec: TaskSpec, background_job_id: str | None, kwargs: dict[str, Any]) -> Any:
    _drop_unusable_connections()
    rq_job = get_current_job()
    queue = rq_job.origin if rq_job else spec.queue
    if background_job_id is None:
        # Periodic jobs are enqueued by rq-scheduler under a fixed RQ id; each run
        # gets a row of its own.
        row = services.background_job_create_running(
            job_type=spec.job_type,
            rq_job_id=rq_job.id if rq_job else "",
            queue=queue,
            params=kwargs,
        )
    else:
        row = services.background_job_start_running(job_id=background_job_id)
        if row is None:
            current = BackgroundJob.objects.filter(pk=background_job_id).values_list("status", flat=True).first()
            logger.warning(
                "[queue %s] job %s (%s) not started: row is %s",
                queue,
                background_job_id,
                spec.job_type,
                current or "missing",
            )
            return {"skipped": f"row is {current or 'missing'}"}

    logger.info(
        "[queue %s] job %s (%s) started, attempt %d",
        queue,
        row.job_id,
        spec.job_type,
        row.attempts,
    )
    started = time.monotonic()
    try:
        result = spec.body(JobContext(row), **kwargs)
    except Exception as exc:
        timeout = rq_job.timeout if rq_job else None
        final = is_final_attempt(rq_job)
        message = describe_failure(exc, timeout=timeout)
        logger.error(
            "[queue %s] job %s (%s) failed%s: %s",
            queue,
            row.job_id,
            spec.job_type,
            "" if final else " (will retry)",
            message,
        )
        close_old_connections()
        services.background_job_record_failure(job_id=row.job_id, error=message, final=final)
        raise
    services.background_job_mark_completed(job_id=row.job_id, result=result)
    logger.info(
        "[queue %s] job %s (%s) completed in %.2f s",
        queue,
        row.job_id,
        spec.job_type,
        time.monotonic() - started,
    )
    return result
