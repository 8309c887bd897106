"""The worker's writes: claim, progress, completion and failure of a job's row, each written when it happens."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.utils import timezone

from common.text import truncate
from jobs import transitions
from jobs.models import ACTIVE_STATUSES, BackgroundJob, BackgroundJobEvent, JobStatus

logger = logging.getLogger("jobs.services")

#: Longest one-line error message kept on a row (users see it); tracebacks go to error_traceback.
ERROR_MESSAGE_MAX = 4000


def background_job_claim(*, job_id) -> BackgroundJob | None:
    """queued → running and return the row, in one statement; None when not queued.

    The user is not joined; `row.user` loads it when a task asks.
    """
    return transitions.claim(job_id=job_id, now=timezone.now())


def background_job_set_progress(*, job_id, processed: int, total: int) -> bool:
    """Record progress; monotonic (never moves backwards) and one UPDATE. False when the row is not running."""
    row = transitions.progress(
        job_id=job_id, processed=max(0, int(processed)), total=max(0, int(total)), now=timezone.now()
    )
    return row is not None


def background_job_record_completion(
    *, job_id, result: Any, progress: tuple[int, int] | None = None, finished_at=None
) -> bool:
    """running → completed with the result, stamped with when the job finished.

    Progress writes are rate-limited (JOBS_PROGRESS_INTERVAL_MS), so the last
    figures the job reported (`progress`) arrive here rather than in a write of
    their own.
    """
    total = None if progress is None else max(0, int(progress[1]))
    row = transitions.complete(job_id=job_id, result=result, total=total, now=finished_at or timezone.now())
    if row is None:
        logger.warning("Job %s finished, but its row was no longer running; result not recorded", job_id)
    return row is not None


def background_job_record_log(*, job_id, log: str) -> None:
    """Keep the lines a running task logged through `ctx.log` (already bounded) on its row."""
    BackgroundJob.objects.filter(pk=job_id).update(log=log)


def background_job_record_failure(
    *, job_id, error: str, final: bool, rq_job_id: str | None = None, traceback: str = "", log: str = ""
) -> bool:
    """Record a failed attempt: `failed` when final, back to `queued` when RQ retries it.

    With `rq_job_id`, only a row whose current attempt is that RQ job changes: a
    late failure of an attempt the reconciler or an operator already replaced
    must not fail the new one. The traceback and log (operators only) are kept
    on the row; a retried attempt's traceback also goes into the audit trail.
    """
    message = error if final else f"Retrying after: {error}"
    changed = transitions.fail(
        job_ids=[job_id],
        error=truncate(message, ERROR_MESSAGE_MAX),
        final=final,
        now=timezone.now(),
        rq_job_id=rq_job_id,
        details={"error_traceback": traceback or error, "log": log},
    )
    # Only the runner sends a traceback; RQ's on_failure callback, which
    # follows it for the same attempt, must not add the attempt twice.
    if changed and traceback and not final:
        BackgroundJobEvent.objects.create(
            job_id=job_id,
            action="attempt_failed",
            reason=traceback,
            status_before=JobStatus.RUNNING,
            status_after=JobStatus.QUEUED,
        )
    return bool(changed)


def background_job_record_rq_failure(*, rq_job, error: str, final: bool) -> bool:
    """Record a failure RQ saw but the runner did not (import errors, a killed horse).

    Jobs we enqueue carry their row id in `meta`; periodic jobs run under a fixed
    RQ id, so their row is the active one with that `rq_job_id`.
    """
    try:
        row_id = uuid.UUID(str((rq_job.meta or {}).get("background_job_id") or rq_job.id))
    except (ValueError, AttributeError):
        row_id = (
            BackgroundJob.objects.filter(rq_job_id=rq_job.id, status__in=ACTIVE_STATUSES)
            .order_by("-created_at")
            .values_list("pk", flat=True)
            .first()
        )
    if row_id is None:
        return False
    return background_job_record_failure(job_id=row_id, error=error, final=final, rq_job_id=rq_job.id)


def background_job_hand_off(*, job_id, from_rq_job_id: str, to_rq_job_id: str) -> BackgroundJob | None:
    """The running row continues under `to_rq_job_id`; None when it left running under `from_rq_job_id`."""
    now = timezone.now()
    return transitions.hand_off(job_id=job_id, from_rq_job_id=from_rq_job_id, to_rq_job_id=to_rq_job_id, now=now)


def background_job_resume(*, job_id, rq_job_id: str) -> BackgroundJob | None:
    """A continuation starts: the row is running under `rq_job_id`; None when it is not this RQ job's any more."""
    return transitions.resume(job_id=job_id, rq_job_id=rq_job_id, now=timezone.now())
