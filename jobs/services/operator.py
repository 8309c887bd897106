"""Operator actions on jobs (admin, commands): mark failed, retry, cancel, reset the queues; each audited."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from common.text import truncate
from jobs import rqkeys, transitions
from jobs.models import ACTIVE_STATUSES, BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.registry import UnknownJobType, get_task
from jobs.services.starting import enqueue_after_commit
from jobs.services.worker import ERROR_MESSAGE_MAX

logger = logging.getLogger("jobs.services")

#: Statuses a retry starts a new attempt from.
RETRYABLE_STATUSES = (JobStatus.FAILED, JobStatus.CANCELLED)


def record_events(
    *, job_rows: Iterable[BackgroundJob], action: str, reason: str, after: str, actor=None, source="system"
):
    """One audit line per row: who moved it, why, from its status (as loaded) to `after`."""
    BackgroundJobEvent.objects.bulk_create(
        [
            BackgroundJobEvent(
                job=row,
                actor=actor,
                source=source,
                action=action,
                reason=reason,
                status_before=row.status,
                status_after=after,
            )
            for row in job_rows
        ]
    )


def _locked(job_rows, statuses) -> list[BackgroundJob]:
    # select_related(None): PostgreSQL refuses FOR UPDATE on the nullable side
    # of the outer join the admin's list_select_related=["user"] adds.
    return list(job_rows.select_related(None).select_for_update().filter(status__in=list(statuses)))


@transaction.atomic
def background_job_mark_failed(
    *, job_rows, reason: str, by=None, source: str = "admin", action: str = "mark_failed"
) -> int:
    """Fail active jobs (stuck, lost) and stop their RQ jobs so a late finish cannot land.

    Returns how many rows changed. Only rows still queued/running are touched.
    """
    candidates = _locked(job_rows, ACTIVE_STATUSES)
    if not candidates:
        return 0
    changed = transitions.fail(
        job_ids=[row.pk for row in candidates],
        error=truncate(reason, ERROR_MESSAGE_MAX),
        final=True,
        now=timezone.now(),
    )
    record_events(job_rows=candidates, action=action, reason=reason, after=JobStatus.FAILED, actor=by, source=source)
    transaction.on_commit(lambda: _stop_rq_jobs(candidates))
    return len(changed)


@transaction.atomic
def background_job_cancel(*, job_rows, reason: str, by=None, source: str = "admin") -> int:
    """queued/running → cancelled; after commit a queued RQ job is cancelled, a running one stopped.

    A queued job then never runs (a worker that dequeues it anyway finds the
    row not queued); a running job's work-horse is killed by RQ's stop-job
    command (under a SimpleWorker the task stops at its next progress write),
    and what the task committed so far stays. Returns how many changed.
    """
    candidates = _locked(job_rows, ACTIVE_STATUSES)
    if not candidates:
        return 0
    changed = transitions.cancel(
        job_ids=[row.pk for row in candidates], reason=truncate(reason, ERROR_MESSAGE_MAX), now=timezone.now()
    )
    record_events(
        job_rows=candidates, action="cancel", reason=reason, after=JobStatus.CANCELLED, actor=by, source=source
    )
    transaction.on_commit(lambda: _stop_rq_jobs(candidates))
    return len(changed)


def _new_attempt_rq_job_id(row: BackgroundJob) -> str:
    # A fresh RQ id per manual/reconciler attempt: the old RQ job may still sit
    # in RQ's failed or started registry, and its late callbacks must not match.
    return f"{row.job_id}-{uuid.uuid4().hex[:8]}"


@transaction.atomic
def background_job_retry(
    *,
    job_rows,
    reason: str,
    by=None,
    source: str = "admin",
    from_statuses: Iterable[str] = RETRYABLE_STATUSES,
) -> int:
    """Start a new attempt of each job: the same row goes back to `queued`.

    The row (and so the job id a client polls) is kept; progress, result and
    error are cleared, `attempts` keeps counting, and the attempt gets a new RQ
    job id. Rows whose job type no longer has a task are skipped. Returns how
    many rows were re-queued; each gets a "retry" event.
    """
    candidates = []
    for row in _locked(job_rows, from_statuses):
        try:
            get_task(row.job_type)
        except UnknownJobType:
            logger.warning("Job %s not retried: no task for job type %r", row.job_id, row.job_type)
            continue
        candidates.append(row)
    now = timezone.now()
    retried = []
    fresh = []
    for row in candidates:
        changed = transitions.retry(
            job_id=row.job_id, from_status=row.status, rq_job_id=_new_attempt_rq_job_id(row), now=now
        )
        if changed is not None:
            retried.append(row)
            fresh.append(changed)
    record_events(job_rows=retried, action="retry", reason=reason, after=JobStatus.QUEUED, actor=by, source=source)
    enqueue_after_commit(fresh)
    return len(retried)


def _stop_rq_jobs(job_rows: list[BackgroundJob]) -> None:
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    try:
        connection = rqkeys.rq_connection()
        for row in job_rows:
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
