"""The reconciler's repairs: complete from RQ's result, re-enqueue a lost job, requeue, prune old periodic rows."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs import rqkeys, transitions
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from jobs.services.operator import record_events
from jobs.services.starting import enqueue_after_commit
from jobs.services.worker import ERROR_MESSAGE_MAX
from scribes.text import truncate


@transaction.atomic
def background_job_complete_from_rq(*, job_row: BackgroundJob, result, reason: str, source: str = "reconciler") -> bool:
    """Active → completed with the result RQ kept, when the worker's own write never landed.

    The database may have been unreachable when the worker wrote it; RQ still holds the outcome for
    JOB_RESULT_TTL. Only the attempt RQ ran (same rq_job_id) changes.
    """
    row = transitions.complete(
        job_id=job_row.pk,
        result=result,
        total=None,
        now=timezone.now(),
        from_statuses=ACTIVE_STATUSES,
        rq_job_id=job_row.rq_job_id,
    )
    if row is not None:
        record_events(job_rows=[job_row], action="complete", reason=reason, after=JobStatus.COMPLETED, source=source)
    return row is not None


@transaction.atomic
def background_job_reenqueue(*, job_row: BackgroundJob, reason: str, source: str = "reconciler") -> bool:
    """Put a queued row's lost RQ job back on its queue (same RQ id); records a "reenqueue" event."""
    if not BackgroundJob.objects.filter(pk=job_row.pk, status=JobStatus.QUEUED).update(updated_at=timezone.now()):
        return False
    record_events(job_rows=[job_row], action="reenqueue", reason=reason, after=JobStatus.QUEUED, source=source)
    enqueue_after_commit([job_row])
    return True


@transaction.atomic
def background_job_mark_requeued(*, job_row: BackgroundJob, reason: str, source: str = "reconciler") -> bool:
    """running → queued for a row whose RQ job RQ itself put back on the queue (abandoned-job retry)."""
    changed = transitions.fail(
        job_ids=[job_row.pk],
        error=truncate(f"Retrying after: {reason}", ERROR_MESSAGE_MAX),
        final=False,
        now=timezone.now(),
        from_statuses=[JobStatus.RUNNING],
        rq_job_id=job_row.rq_job_id,
    )
    if changed:
        record_events(job_rows=[job_row], action="requeue", reason=reason, after=JobStatus.QUEUED, source=source)
    return bool(changed)


def background_jobs_prune_periodic(*, before, limit: int = 5000) -> int:
    """Delete up to `limit` completed periodic-run rows (and their events) finished before `before`.

    The reconciler alone writes a row a minute. Failed runs stay for operators;
    jobs users started are never touched; what a pass repaired stays on the
    repaired rows' own audit events.
    """
    old = BackgroundJob.objects.filter(
        status=JobStatus.COMPLETED,
        rq_job_id__startswith=rqkeys.SCHEDULE_ID_PREFIX,
        user__isnull=True,
        completed_at__lt=before,
    )
    ids = list(old.order_by("completed_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    BackgroundJob.objects.filter(pk__in=ids).delete()
    return len(ids)
