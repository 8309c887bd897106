"""Writes on BackgroundJob: start (row + enqueue after commit) and every state change.

Every state change is a single conditional UPDATE (`WHERE status IN (...)`), so two
parties racing (a late worker finish and an operator's "mark failed", or the
reconciler) cannot overwrite each other: whoever moves the row first wins and the
other sees 0 rows changed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Callback, Retry

from jobs.models import ACTIVE_STATUSES, BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.registry import TaskSpec, get_task
from scribes.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

#: Longest error message kept on a row; tracebacks go to the worker log.
ERROR_MESSAGE_MAX = 4000


class JobEnqueueError(ServiceUnavailable):
    """The row was created but Redis refused the job; the row is marked failed."""


def _trim(message: str) -> str:
    return message if len(message) <= ERROR_MESSAGE_MAX else message[: ERROR_MESSAGE_MAX - 1] + "…"


def background_job_start(*, job_type: str, user=None, params: dict | None = None) -> BackgroundJob:
    """Create a queued row and enqueue its RQ job once the transaction commits.

    Inside an outer transaction the enqueue waits for that commit, so a worker
    never looks for a row that is not there yet. Outside one it happens before
    this returns, and a Redis failure raises `JobEnqueueError` (row marked failed).
    """
    spec = get_task(job_type)
    job_id = uuid.uuid4()
    with transaction.atomic():
        job = BackgroundJob.objects.create(
            job_id=job_id,
            rq_job_id=str(job_id),
            job_type=job_type,
            user=user,
            params=params or {},
            queue=spec.queue,
            status=JobStatus.QUEUED,
        )
        transaction.on_commit(lambda: background_job_enqueue(job=job, spec=spec))
    return job


def background_job_enqueue(*, job: BackgroundJob, spec: TaskSpec | None = None) -> None:
    """Put the RQ job for `job` on its queue (the queue its task declared)."""
    spec = spec or get_task(job.job_type)
    retry = None
    if spec.max_retries:
        retry = Retry(max=spec.max_retries, interval=list(spec.retry_intervals) or 0)
    try:
        queue = django_rq.get_queue(spec.queue)
        queue.enqueue_call(
            func=spec.entry,
            kwargs={"background_job_id": str(job.job_id), **job.params},
            job_id=job.rq_job_id,
            timeout=spec.timeout or settings.JOB_TIMEOUT,
            result_ttl=settings.JOB_RESULT_TTL,
            failure_ttl=settings.JOB_RESULT_TTL * 7,
            retry=retry,
            on_failure=Callback("jobs.callbacks.on_job_failure"),
            meta={"background_job_id": str(job.job_id), "job_type": job.job_type},
            description=f"{job.job_type} {job.job_id}",
        )
    except RedisError as exc:
        reason = f"Could not enqueue on queue {spec.queue!r}: Redis unavailable ({type(exc).__name__}: {exc})"
        logger.error("Job %s (%s): %s", job.job_id, job.job_type, reason)
        background_job_record_failure(job_id=job.job_id, error=reason, final=True)
        raise JobEnqueueError("The job queue is unavailable; try again shortly.") from exc
    logger.info("Job %s (%s) enqueued on queue %s", job.job_id, job.job_type, spec.queue)


def background_job_create_running(*, job_type: str, rq_job_id: str, queue: str, params: dict) -> BackgroundJob:
    """Create the row of a job that RQ started without one (periodic jobs)."""
    now = timezone.now()
    return BackgroundJob.objects.create(
        job_type=job_type,
        rq_job_id=rq_job_id,
        queue=queue,
        params=params,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=now,
    )


def background_job_mark_running(*, job_id) -> bool:
    """queued → running; False when the row is gone or no longer queued (cancelled, failed)."""
    changed = BackgroundJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        completed_at=None,
        attempts=F("attempts") + 1,
        updated_at=timezone.now(),
    )
    return changed == 1


def background_job_set_progress(*, job_id, processed: int, total: int) -> None:
    """Record progress; monotonic (never moves backwards) and one UPDATE."""
    processed = max(0, int(processed))
    total = max(0, int(total))
    percent = 100 if total == 0 else min(100, processed * 100 // total)
    BackgroundJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, processed_items__lte=processed).update(
        processed_items=processed,
        total_items=total,
        progress_percent=percent,
        updated_at=timezone.now(),
    )


def background_job_mark_completed(*, job_id, result) -> bool:
    now = timezone.now()
    changed = BackgroundJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.COMPLETED,
        result_data=result,
        progress_percent=100,
        processed_items=F("total_items"),
        error_message="",
        completed_at=now,
        updated_at=now,
    )
    if not changed:
        logger.warning(
            "Job %s finished, but its row was no longer running; result not recorded",
            job_id,
        )
    return changed == 1


def background_job_record_failure(*, job_id, error: str, final: bool) -> bool:
    """Record a failed attempt: `failed` when final, back to `queued` when RQ retries it."""
    now = timezone.now()
    rows = BackgroundJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES)
    if final:
        changed = rows.update(
            status=JobStatus.FAILED,
            error_message=_trim(error),
            completed_at=now,
            updated_at=now,
        )
    else:
        changed = rows.update(
            status=JobStatus.QUEUED,
            error_message=_trim(f"Retrying after: {error}"),
            updated_at=now,
        )
    return changed == 1


def _record_events(
    *,
    jobs: Iterable[BackgroundJob],
    action: str,
    reason: str,
    after: str,
    actor=None,
    source="system",
):
    BackgroundJobEvent.objects.bulk_create(
        [
            BackgroundJobEvent(
                job=job,
                actor=actor,
                source=source,
                action=action,
                reason=reason,
                status_before=job.status,
                status_after=after,
            )
            for job in jobs
        ]
    )


@transaction.atomic
def background_job_mark_failed(*, jobs, reason: str, by=None, source: str = "admin") -> int:
    """Fail active jobs (stuck, lost) and stop their RQ jobs so a late finish cannot land.

    Returns how many rows changed. Only rows still queued/running are touched.
    """
    candidates = list(jobs.select_for_update().filter(status__in=ACTIVE_STATUSES))
    if not candidates:
        return 0
    now = timezone.now()
    changed = BackgroundJob.objects.filter(pk__in=[job.pk for job in candidates], status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED,
        error_message=_trim(reason),
        completed_at=now,
        updated_at=now,
    )
    _record_events(
        jobs=candidates,
        action="mark_failed",
        reason=reason,
        after=JobStatus.FAILED,
        actor=by,
        source=source,
    )
    transaction.on_commit(lambda: _stop_rq_jobs(candidates))
    return changed


def _stop_rq_jobs(jobs: list[BackgroundJob]) -> None:
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    from jobs.selectors import rq_connection

    try:
        connection = rq_connection()
        for row in jobs:
            try:
                rq_job = Job.fetch(row.rq_job_id, connection=connection)
            except NoSuchJobError:
                continue
            status = rq_job.get_status(refresh=False)
            if status == "started":
                try:
                    send_stop_job_command(connection, rq_job.id)
                except InvalidJobOperation:
                    pass
            elif status in ("queued", "scheduled", "deferred"):
                rq_job.cancel()
    except RedisError as exc:
        # The rows are failed already; a late run finds them non-queued and does nothing.
        logger.warning("Could not stop RQ jobs (Redis unavailable: %s); rows stay failed", exc)


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
    return background_job_record_failure(job_id=row_id, error=error, final=final)
