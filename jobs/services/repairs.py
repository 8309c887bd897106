"""The reconciler's repairs: complete from RQ's result, re-enqueue, requeue, move queue."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from redis.exceptions import WatchError
from rq import Queue
from rq.job import Job

from common.text import truncate
from jobs import rqkeys, transitions
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from jobs.services.operator import record_events
from jobs.services.starting import enqueue_after_commit
from jobs.services.worker import ERROR_MESSAGE_MAX


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


def _rq_job_move(connection, *, job_id: str, old: str, new: str) -> bool:
    """Move `job_id` from queue `old`'s list to queue `new` in one MULTI; False when it is not on `old`'s list.

    WATCH on the old list makes the LREM and the push one step: a worker that
    pops from the list in between aborts it (WatchError), so the job is neither
    taken twice nor left on no list at all if Redis fails half way.
    """
    old_key = rqkeys.QUEUE_KEY.format(old)
    with connection.pipeline() as pipe:
        try:
            pipe.watch(old_key)
            if pipe.lpos(old_key, job_id) is None:
                return False
            job = Job.fetch(job_id, connection=connection)
            pipe.multi()
            pipe.lrem(old_key, 1, job_id)
            Queue(new, connection=connection).enqueue_job(job, pipeline=pipe)
            pipe.execute()
        except WatchError:
            return False  # the list changed meanwhile: the next pass looks again
    return True


def background_job_move_queue(*, job_row: BackgroundJob, rq_job: Job, queue_name: str, reason: str) -> bool:
    """Move a queued row's RQ job from a retired queue (`rq_job.origin`) to `queue_name`, keeping its RQ id.

    Safe against a worker dequeuing at the same moment: the move happens only
    while the id is still on the old queue's list (`_rq_job_move`), so the job
    runs exactly once. The row's `queue` follows with a conditional UPDATE
    (still queued, same attempt); a row whose job already sits on `queue_name`
    (a move cut short, a re-enqueue) is updated the same way. Records a
    "move_queue" event; False when nothing moved.
    """
    redis_moved = rq_job.origin != queue_name
    if redis_moved and not _rq_job_move(rq_job.connection, job_id=rq_job.id, old=rq_job.origin, new=queue_name):
        return False
    with transaction.atomic():
        row_moved = (
            BackgroundJob.objects.filter(pk=job_row.pk, status=JobStatus.QUEUED, rq_job_id=job_row.rq_job_id)
            .exclude(queue=queue_name)
            .update(queue=queue_name, updated_at=timezone.now())
        )
        if row_moved or redis_moved:
            record_events(
                job_rows=[job_row], action="move_queue", reason=reason, after=JobStatus.QUEUED, source="reconciler"
            )
    return bool(row_moved or redis_moved)
