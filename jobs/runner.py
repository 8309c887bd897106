"""Tracked tasks: `@tracked_task` defines one; `run_tracked` runs its body and keeps the row in step with RQ.

The row moves queued → running before the body starts and running →
completed/failed after it ends, each written when it happens; an exception is
recorded on the row and re-raised so RQ records the failure too (and retries
when the task allows). Failures that never reach this code are caught by
`jobs.callbacks` and by `ScribesWorker.handle_work_horse_killed`.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from common import queues
from common.requestid import request_id_var
from jobs import services
from jobs.failures import JobLog, traceback_text
from jobs.models import BackgroundJob
from jobs.registry import TaskSpec, get_task, register

logger = logging.getLogger("jobs.runner")


class JobStopped(Exception):
    """Raised by `JobContext.progress` when the row left `running` under the task (cancel, mark failed)."""


@dataclass(frozen=True)
class Continue:
    """What a body returns when its work is not done: the same row runs the body again as a new RQ job.

    The row stays `running` with one (cumulative) progress figure; its `rq_job_id`
    moves to the new RQ job (with `kwargs`), which goes to the back of the task's
    queue once this run and the RQ jobs `depends_on` (may fail) have ended: slices
    that take turns with other users'. A row cancelled meanwhile is not continued.
    """

    kwargs: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


class JobContext:
    """What a task body gets (`ctx`): its row, a progress call, and a logger."""

    def __init__(self, row: BackgroundJob):
        self.row = row
        self.job_id = row.job_id
        # Lines logged here are also kept for the row (jobs/failures.py).
        self.log = JobLog(logger, str(row.job_id))
        self._processed = 0
        self._reported: tuple[int, int] | None = None
        self._written: tuple[int, int] | None = None
        self._write_interval = settings.JOBS_PROGRESS_INTERVAL_MS / 1000
        self._last_write = time.monotonic()

    @property
    def user(self):
        # Loaded on first use: most tasks never ask, and the row comes from an
        # UPDATE ... RETURNING that cannot join the user.
        return self.row.user

    def progress(self, processed: int, total: int) -> None:
        """Report `processed` of `total` items done; the percent is derived, never decreases.

        Written at most once per JOBS_PROGRESS_INTERVAL_MS (counted from the
        start of the job), so a job that ends sooner writes no progress at all:
        its completion records the last figures. A call that repeats the last
        written figures writes nothing.
        """
        self._processed = max(self._processed, processed)
        self._reported = (self._processed, total)
        if self._written == self._reported:
            return
        now = time.monotonic()
        if now - self._last_write < self._write_interval:
            return
        if not services.background_job_set_progress(job_id=self.job_id, processed=self._processed, total=total):
            # Cancelled or failed meanwhile: RQ's stop-job command kills a forked
            # horse, but a SimpleWorker runs the body in its own process, so the
            # body stops here, at its next progress write.
            raise JobStopped(f"Job {self.job_id} is no longer running (cancelled or failed meanwhile); stopped")
        self._written = self._reported
        self._last_write = now

    @property
    def reported(self) -> tuple[int, int] | None:
        """The last (processed, total) reported, written or not; the completion records it."""
        return self._reported


def describe_failure(exc: BaseException, *, timeout: int | None = None) -> str:
    if isinstance(exc, JobTimeoutException):
        limit = f" after {timeout} s" if timeout else ""
        return f"Job timed out{limit} (JOB_TIMEOUT); it was stopped by the worker."
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_final_attempt(rq_job) -> bool:
    # RQ calls on_failure on every failed attempt; only the last one is final.
    return rq_job is None or not rq_job.should_retry


def claim_row(job_id: str) -> tuple[BackgroundJob | None, str]:
    """queued → running; (row, "") when claimed, else (None, the status it is in, or "missing")."""
    row = services.background_job_claim(job_id=job_id)
    if row is not None:
        return row, ""
    current = BackgroundJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    return None, current or "missing"


def run_tracked(spec: TaskSpec, job_id: str | None, kwargs: dict[str, Any]) -> Any:
    # A worker may hold a connection the database dropped (restart, idle timeout).
    close_old_connections()
    rq_job = get_current_job()
    queue = rq_job.origin if rq_job else spec.queue
    if job_id is None:
        # Periodic jobs are enqueued by rq-scheduler under a fixed RQ id; each run
        # gets a row of its own.
        row = services.background_job_create_running(
            job_type=spec.job_type,
            rq_job_id=rq_job.id if rq_job else "",
            queue=queue,
            params=kwargs,
        )
    else:
        row, skipped_status = claim_row(job_id)
        if row is None:
            logger.warning(
                "[queue %s] job %s (%s) not started: row is %s", queue, job_id, spec.job_type, skipped_status
            )
            return {"skipped": f"row is {skipped_status}"}

    # The job's log lines carry the id of the request that started it, as the web's did.
    token = request_id_var.set(row.request_id)
    try:
        return _run_claimed(spec, row, rq_job, queue, kwargs)
    finally:
        request_id_var.reset(token)


def run_continuation(background_job_id: str, job_type: str, **kwargs: Any) -> Any:
    """The RQ entry point of a `Continue`: the body again, if the row is running under this RQ job (else skipped)."""
    close_old_connections()
    spec = get_task(job_type)
    rq_job = get_current_job()
    queue = rq_job.origin if rq_job else spec.queue
    row = services.background_job_resume(job_id=background_job_id, rq_job_id=rq_job.id if rq_job else "")
    if row is None:
        logger.warning("[queue %s] job %s (%s) continuation not started", queue, background_job_id, job_type)
        return {"skipped": "row is not running under this RQ job"}
    token = request_id_var.set(row.request_id)
    try:
        return _run_claimed(spec, row, rq_job, queue, kwargs)
    finally:
        request_id_var.reset(token)


def _hand_off(spec: TaskSpec, row: BackgroundJob, rq_job, queue: str, ctx: JobContext, step: Continue) -> dict:
    """Enqueue the next RQ job, deferred until this one ends, then move the row to it.

    The row never points at an RQ job not in Redis yet; a row that left `running`
    is not moved, and its continuation then skips.
    """
    new_rq_job_id = f"{row.job_id}-{uuid.uuid4().hex[:12]}"
    current = rq_job.id if rq_job else row.rq_job_id
    depends_on = [current, *step.depends_on] if rq_job else list(step.depends_on)
    services.background_job_enqueue_continuation(
        job_row=row, rq_job_id=new_rq_job_id, kwargs=step.kwargs, depends_on=depends_on
    )
    if not services.background_job_hand_off(job_id=row.job_id, from_rq_job_id=current, to_rq_job_id=new_rq_job_id):
        logger.info("[queue %s] job %s (%s) not continued: the row left running", queue, row.job_id, spec.job_type)
        return {"stopped": "the row left running"}
    # The figures so far, once the row is the next run's (the interval does not apply).
    if ctx.reported not in (None, ctx._written):
        services.background_job_set_progress(job_id=row.job_id, processed=ctx.reported[0], total=ctx.reported[1])
    return {"continued_as": new_rq_job_id}


def _run_claimed(spec: TaskSpec, row: BackgroundJob, rq_job, queue: str, kwargs: dict[str, Any]) -> Any:
    logger.info("[queue %s] job %s (%s) started, attempt %d", queue, row.job_id, spec.job_type, row.attempts)
    started = time.monotonic()
    ctx = JobContext(row)
    try:
        result = spec.body(ctx, **kwargs)
    except JobStopped as exc:
        # Someone else ended the row (cancel, mark failed): nothing to record, nothing for RQ to retry.
        logger.info("[queue %s] job %s (%s): %s", queue, row.job_id, spec.job_type, exc)
        return {"stopped": str(exc)}
    except Exception as exc:
        final = is_final_attempt(rq_job)
        message = describe_failure(exc, timeout=rq_job.timeout if rq_job else None)
        logger.error(
            "[queue %s] job %s (%s) failed%s: %s",
            queue,
            row.job_id,
            spec.job_type,
            "" if final else " (will retry)",
            message,
        )
        close_old_connections()
        services.background_job_record_failure(
            job_id=row.job_id, error=message, final=final, traceback=traceback_text(exc), log=ctx.log.text()
        )
        raise
    if isinstance(result, Continue):
        handed = _hand_off(spec, row, rq_job, queue, ctx, result)
        seconds = time.monotonic() - started
        logger.info(
            "[queue %s] job %s (%s) slice done in %.2f s: %s", queue, row.job_id, spec.job_type, seconds, handed
        )
        return handed
    try:
        if ctx.log.lines:
            # Only tasks that log through ctx.log pay this write.
            services.background_job_record_log(job_id=row.job_id, log=ctx.log.text())
        services.background_job_record_completion(job_id=row.job_id, result=result, progress=ctx.reported)
    except (OperationalError, InterfaceError):
        # The body succeeded and RQ records its result: once the database
        # answers again the reconciler completes the row from RQ's copy.
        logger.exception(
            "[queue %s] job %s (%s) finished but the database is unreachable; the reconciler completes its row",
            queue,
            row.job_id,
            spec.job_type,
        )
        close_old_connections()
    logger.info(
        "[queue %s] job %s (%s) completed in %.2f s", queue, row.job_id, spec.job_type, time.monotonic() - started
    )
    return result


def tracked_task(
    job_type: str,
    *,
    queue: str = queues.SYSTEM,
    timeout: int | None = None,
    max_retries: int = 0,
    retry_intervals: tuple[int, ...] = (),
):
    """Register `body(ctx, **kwargs)` as the task for `job_type` on `queue` (one of `common.queues`).

    The body receives a `JobContext` (`ctx`: the row, progress, a logger) and
    its keyword arguments. The function returned is the RQ entry point: RQ
    imports it by its dotted name and calls it with the row's id, and
    `run_tracked` moves the row through queued → running → completed/failed
    around the body.
    """

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        spec = TaskSpec(
            job_type=job_type,
            body=body,
            queue=queue,
            timeout=timeout,
            max_retries=max_retries,
            retry_intervals=tuple(retry_intervals),
        )

        @functools.wraps(body)
        def entry(background_job_id: str | None = None, **kwargs: Any) -> Any:
            return run_tracked(spec, background_job_id, kwargs)

        object.__setattr__(spec, "entry", entry)
        entry.spec = spec  # type: ignore[attr-defined]
        register(spec)
        return entry

    return decorate
