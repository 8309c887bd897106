"""Writes on BackgroundJob: start (row + enqueue after commit) and every state change.

Every state change is a single conditional UPDATE (`WHERE status IN (...)`), so two
parties racing (a late worker finish and an operator's "mark failed", or the
reconciler) cannot overwrite each other: whoever moves the row first wins and the
other sees 0 rows changed.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import django_rq
import django_rq.queues
from django.conf import settings
from django.db import router, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Callback, Retry

from jobs import events, hotpath, rqkeys
from jobs.models import ACTIVE_STATUSES, BackgroundJob, BackgroundJobEvent, JobStatus, status_in
from jobs.registry import TaskSpec, get_task
from jobs.schedules import SCHEDULE_ID_PREFIX
from scribes.exceptions import ServiceUnavailable
from scribes.text import truncate

logger = logging.getLogger(__name__)

#: Longest error message kept on a row; tracebacks go to the worker log.
ERROR_MESSAGE_MAX = 4000


class JobEnqueueError(ServiceUnavailable):
    """The row was created but Redis refused the job; the row is marked failed."""


def background_job_start(*, job_type: str, user=None, params: dict | None = None) -> BackgroundJob:
    """Create a queued row and enqueue its RQ job once the transaction commits.

    Inside an outer transaction the enqueue waits for that commit, so a worker
    never looks for a row that is not there yet. Outside one it happens before
    this returns, and a Redis failure raises `JobEnqueueError` (row marked failed).
    """
    spec = get_task(job_type)
    job = _queued_row(spec, user=user, params=params)
    with transaction.atomic():
        job.save(force_insert=True)
        transaction.on_commit(lambda: background_job_enqueue(job=job, spec=spec))
        events.job_events_publish_on_commit(rows=[job])
    return job


def _queued_row(spec: TaskSpec, *, user=None, params: dict | None = None) -> BackgroundJob:
    """An unsaved queued row whose RQ job id is its own id (every path that starts a job)."""
    job_id = uuid.uuid4()
    return BackgroundJob(
        job_id=job_id,
        rq_job_id=str(job_id),
        job_type=spec.job_type,
        user=user,
        params=params or {},
        queue=spec.queue,
        status=JobStatus.QUEUED,
    )


@functools.lru_cache(maxsize=16)
def _shared_queue(get_queue, get_connection, name: str, url: str):
    return get_queue(name)


def _queue(name: str):
    """The RQ queue `name`, built once per process (and Redis URL).

    django-rq builds a new Redis client (and connection pool) on every
    `get_queue`, so each enqueue paid a TCP connect, the HELLO/CLIENT
    SETINFO/SELECT handshake and RQ's INFO version probe: 7 round trips before
    the job's own 2. Keyed by django-rq's factories too, so a test that swaps
    one gets a queue of its own.
    """
    return _shared_queue(django_rq.get_queue, django_rq.queues.get_connection, name, settings.REDIS_URL)


def _enqueue_arguments(job: BackgroundJob, spec: TaskSpec) -> dict:
    """The RQ job for a row: the same id, kwargs, meta and failure callback on every path."""
    retry = None
    if spec.max_retries:
        retry = Retry(max=spec.max_retries, interval=list(spec.retry_intervals) or 0)
    return {
        "kwargs": {"background_job_id": str(job.job_id), **job.params},
        "job_id": job.rq_job_id,
        "timeout": spec.timeout or settings.JOB_TIMEOUT,
        "result_ttl": settings.JOB_RESULT_TTL,
        "failure_ttl": settings.JOB_RESULT_TTL * 7,
        "retry": retry,
        "on_failure": Callback("jobs.callbacks.on_job_failure"),
        "meta": {"background_job_id": str(job.job_id), "job_type": job.job_type},
        "description": f"{job.job_type} {job.job_id}",
    }


def background_job_enqueue(*, job: BackgroundJob, spec: TaskSpec | None = None) -> None:
    """Put the RQ job for `job` on its queue (the queue its task declared)."""
    spec = spec or get_task(job.job_type)
    try:
        queue = _queue(spec.queue)
        queue.enqueue_call(func=spec.entry, **_enqueue_arguments(job, spec))
    except RedisError as exc:
        raise _enqueue_refused([job], spec, exc) from exc
    logger.info("Job %s (%s) enqueued on queue %s", job.job_id, job.job_type, spec.queue)


def _enqueue_refused(jobs: list[BackgroundJob], spec: TaskSpec, exc: RedisError) -> JobEnqueueError:
    """Fail the rows Redis refused (those still active) with the reason; the error to raise."""
    reason = f"Could not enqueue on queue {spec.queue!r}: Redis unavailable ({type(exc).__name__}: {exc})"
    logger.error(
        "%d %s job(s) (%s): %s", len(jobs), spec.job_type, ", ".join(str(job.job_id) for job in jobs[:3]), reason
    )
    now = timezone.now()
    BackgroundJob.objects.filter(pk__in=[job.pk for job in jobs], status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED, error_message=truncate(reason, ERROR_MESSAGE_MAX), completed_at=now, updated_at=now
    )
    return JobEnqueueError("The job queue is unavailable; try again shortly.")


def background_job_start_many(*, job_type: str, items: list[dict]) -> list[BackgroundJob]:
    """Start many jobs of one type: one INSERT, then one Redis pipeline after commit.

    `items` are `{"user": ..., "params": {...}}` (both optional). Rows and RQ jobs
    are exactly what `background_job_start` makes one at a time (same ids,
    kwargs, meta and failure callback), but the rows go in with one
    `bulk_create` and the RQ jobs with one `Queue.enqueue_many` (a single
    MULTI/EXEC round trip). As with `background_job_start`, the enqueue waits
    for an outer transaction's commit; when Redis refuses, every row of the
    batch is marked failed and `JobEnqueueError` is raised (outside an outer
    transaction).
    """
    spec = get_task(job_type)
    rows = [_queued_row(spec, user=item.get("user"), params=item.get("params")) for item in items]
    if not rows:
        return []
    with transaction.atomic():
        BackgroundJob.objects.bulk_create(rows)
        # No "queued" events here: a fan-out stays one Redis round trip; a
        # job's stream starts at its claim (its SSE view shows the row meanwhile).
        transaction.on_commit(lambda: _enqueue_many(rows, spec))
    return rows


def _enqueue_many(jobs: list[BackgroundJob], spec: TaskSpec) -> None:
    try:
        queue = _queue(spec.queue)
        queue.enqueue_many([queue.prepare_data(spec.entry, **_enqueue_arguments(job, spec)) for job in jobs])
    except RedisError as exc:
        raise _enqueue_refused(jobs, spec, exc) from exc
    logger.info("%d %s job(s) enqueued on queue %s", len(jobs), spec.job_type, spec.queue)


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


@dataclass(frozen=True)
class Completion:
    """A job's successful outcome, not yet written to its row (see `jobs.runner.completions`)."""

    job_id: Any
    result: Any
    #: The last (processed, total) the job reported; progress writes are rate-limited.
    progress: tuple[int, int] | None = None
    finished_at: datetime = field(default_factory=timezone.now)
    #: A user's job: its completion is published to its live event stream.
    watched: bool = False

    @property
    def total(self) -> int | None:
        return None if self.progress is None else max(0, int(self.progress[1]))


def background_job_start_running(*, job_id, completing: Completion | None = None) -> BackgroundJob | None:
    """queued → running and return the row, in one statement; None when not queued.

    The worker's hot path: `UPDATE ... RETURNING` (compiled once, see
    `jobs.hotpath`) replaces the conditional UPDATE plus the SELECT that loads
    the row. The user is not joined; `row.user` loads it when a task asks.
    Databases without RETURNING fall back to the two statements.

    `completing`: the previous job's completion, which a worker holds until
    its next claim; on PostgreSQL both go in one statement (one round trip
    instead of two per job), elsewhere it is written first.
    """
    now = timezone.now()
    alias = router.db_for_write(BackgroundJob)
    # The two never touch one row: one UPDATE wants it running, the other queued.
    if completing is not None and hotpath.can_complete_then_claim(alias):
        completed, row = hotpath.complete_then_claim(
            completed_job_id=completing.job_id,
            result=completing.result,
            total=completing.total,
            completed_at=completing.finished_at,
            job_id=job_id,
            now=now,
        )
        if not completed:
            _completion_not_recorded(completing.job_id)
        events.job_events_publish_for(job_ids=[completing.job_id] if completed and completing.watched else [])
        return row
    if completing is not None:
        background_job_record_completion(completing)
    if hotpath.supported(alias):
        return hotpath.claim(job_id=job_id, now=now)
    rows = BackgroundJob.objects.filter(pk=job_id, status=JobStatus.QUEUED)
    changed = rows.update(
        status=JobStatus.RUNNING, started_at=now, completed_at=None, attempts=F("attempts") + 1, updated_at=now
    )
    return BackgroundJob.objects.get(pk=job_id) if changed else None


def background_job_set_progress(*, job_id, processed: int, total: int) -> bool:
    """Record progress; monotonic (never moves backwards) and one UPDATE. False when the row is not running."""
    processed = max(0, int(processed))
    total = max(0, int(total))
    percent = 100 if total == 0 else min(100, processed * 100 // total)
    changed = BackgroundJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, processed_items__lte=processed).update(
        processed_items=processed, total_items=total, progress_percent=percent, updated_at=timezone.now()
    )
    events.job_events_publish_for(job_ids=[job_id] if changed else [], progress=True)
    return changed == 1


def _completed_values(result, *, total: int | None, now) -> dict:
    """The UPDATE values of a completion (`jobs.hotpath.complete` writes the same in SQL).

    `total` sets processed = total = that figure; None sets processed = total.
    """
    counts = (
        {"processed_items": F("total_items")} if total is None else {"processed_items": total, "total_items": total}
    )
    return {
        "status": JobStatus.COMPLETED,
        "result_data": result,
        "progress_percent": 100,
        "error_message": "",
        "completed_at": now,
        "updated_at": now,
        **counts,
    }


def background_job_record_completion(completion: Completion) -> bool:
    """running → completed with the result, stamped with when the job finished.

    Progress writes are rate-limited (JOBS_PROGRESS_INTERVAL_MS), so the final
    figures (`completion.progress`) arrive here rather than in a write of their own.
    """
    if hotpath.supported(router.db_for_write(BackgroundJob)):
        changed = hotpath.complete(
            job_id=completion.job_id, result=completion.result, total=completion.total, now=completion.finished_at
        )
    else:
        changed = BackgroundJob.objects.filter(pk=completion.job_id, status=JobStatus.RUNNING).update(
            **_completed_values(completion.result, total=completion.total, now=completion.finished_at)
        )
    if not changed:
        _completion_not_recorded(completion.job_id)
    events.job_events_publish_for(job_ids=[completion.job_id] if changed and completion.watched else [])
    return changed == 1


def _completion_not_recorded(job_id) -> None:
    logger.warning("Job %s finished, but its row was no longer running; result not recorded", job_id)


def background_job_record_failure(*, job_id, error: str, final: bool, rq_job_id: str | None = None) -> bool:
    """Record a failed attempt: `failed` when final, back to `queued` when RQ retries it.

    With `rq_job_id`, only a row whose current attempt is that RQ job changes: a
    late failure of an attempt the reconciler or an operator already replaced
    must not fail the new one.
    """
    now = timezone.now()
    rows = BackgroundJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES)
    if rq_job_id is not None:
        rows = rows.filter(rq_job_id=rq_job_id)
    if final:
        changed = rows.update(
            status=JobStatus.FAILED,
            error_message=truncate(error, ERROR_MESSAGE_MAX),
            completed_at=now,
            updated_at=now,
        )
    else:
        changed = rows.update(
            status=JobStatus.QUEUED,
            error_message=truncate(f"Retrying after: {error}", ERROR_MESSAGE_MAX),
            updated_at=now,
        )
    events.job_events_publish_for(job_ids=[job_id] if changed else [])
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
def background_job_mark_failed(
    *, jobs, reason: str, by=None, source: str = "admin", action: str = "mark_failed"
) -> int:
    """Fail active jobs (stuck, lost) and stop their RQ jobs so a late finish cannot land.

    Returns how many rows changed. Only rows still queued/running are touched.
    """
    # select_related(None): PostgreSQL refuses FOR UPDATE on the nullable side
    # of the outer join the admin's list_select_related=["user"] adds.
    candidates = list(jobs.select_related(None).select_for_update().filter(status_in(*ACTIVE_STATUSES)))
    if not candidates:
        return 0
    now = timezone.now()
    changed = BackgroundJob.objects.filter(pk__in=[job.pk for job in candidates], status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED,
        error_message=truncate(reason, ERROR_MESSAGE_MAX),
        completed_at=now,
        updated_at=now,
    )
    _record_events(
        jobs=candidates,
        action=action,
        reason=reason,
        after=JobStatus.FAILED,
        actor=by,
        source=source,
    )
    transaction.on_commit(lambda: _stop_rq_jobs(candidates))
    events.job_events_publish_for(job_ids=[job.pk for job in candidates])
    return changed


@transaction.atomic
def background_job_complete_from_rq(*, job: BackgroundJob, result, reason: str, source: str = "reconciler") -> bool:
    """Active → completed with the result RQ kept, when the worker's own write never landed.

    The worker commits its row writes asynchronously (`jobs.hotpath`), so a
    database crash can undo one; RQ still holds the outcome for JOB_RESULT_TTL.
    Only the attempt RQ ran (same rq_job_id) changes.
    """
    changed = BackgroundJob.objects.filter(pk=job.pk, rq_job_id=job.rq_job_id, status__in=ACTIVE_STATUSES).update(
        **_completed_values(result, total=None, now=timezone.now())
    )
    if changed:
        _record_events(jobs=[job], action="complete", reason=reason, after=JobStatus.COMPLETED, source=source)
        events.job_events_publish_for(job_ids=[job.pk])
    return changed == 1


def background_jobs_prune_periodic(*, before, limit: int = 5000) -> int:
    """Delete up to `limit` completed periodic-run rows (and their events) finished before `before`.

    The reconciler alone writes a row a minute. Failed runs stay for operators;
    jobs users started are never touched; what a pass repaired stays on the
    repaired rows' own audit events.
    """
    old = BackgroundJob.objects.filter(
        status_in(JobStatus.COMPLETED),
        rq_job_id__startswith=SCHEDULE_ID_PREFIX,
        user__isnull=True,
        completed_at__lt=before,
    )
    ids = list(old.order_by("completed_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    BackgroundJob.objects.filter(pk__in=ids).delete()
    return len(ids)


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
    return background_job_record_failure(job_id=row_id, error=error, final=final, rq_job_id=rq_job.id)


def _new_attempt_rq_job_id(job: BackgroundJob) -> str:
    # A fresh RQ id per manual/reconciler attempt: the old RQ job may still sit
    # in RQ's failed or started registry, and its late callbacks must not match.
    return f"{job.job_id}-{uuid.uuid4().hex[:8]}"


def _enqueue_after_commit(jobs: list[BackgroundJob]) -> None:
    def enqueue():
        for job in jobs:
            try:
                background_job_enqueue(job=job)
            except JobEnqueueError:
                pass  # the row is failed with the reason; the others still go

    transaction.on_commit(enqueue)


#: Statuses a retry starts a new attempt from.
RETRYABLE_STATUSES = (JobStatus.FAILED, JobStatus.CANCELLED)


@transaction.atomic
def background_job_retry(
    *,
    jobs,
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
    from jobs.registry import UnknownJobType

    candidates = []
    for job in jobs.select_related(None).select_for_update().filter(status_in(*from_statuses)):
        try:
            get_task(job.job_type)
        except UnknownJobType:
            logger.warning("Job %s not retried: no task for job type %r", job.job_id, job.job_type)
            continue
        candidates.append(job)
    now = timezone.now()
    retried = []
    for job in candidates:
        rq_job_id = _new_attempt_rq_job_id(job)
        changed = BackgroundJob.objects.filter(pk=job.pk, status=job.status).update(
            status=JobStatus.QUEUED,
            rq_job_id=rq_job_id,
            progress_percent=0,
            processed_items=0,
            total_items=0,
            result_data=None,
            error_message="",
            started_at=None,
            completed_at=None,
            updated_at=now,
        )
        if changed:
            retried.append(job)
    _record_events(jobs=retried, action="retry", reason=reason, after=JobStatus.QUEUED, actor=by, source=source)
    fresh = list(BackgroundJob.objects.filter(pk__in=[job.pk for job in retried]))
    _enqueue_after_commit(fresh)
    events.job_events_publish_on_commit(rows=fresh)
    return len(retried)


@transaction.atomic
def background_job_cancel(*, jobs, reason: str, by=None, source: str = "admin") -> int:
    """queued/running → cancelled; after commit a queued RQ job is cancelled, a running one stopped.

    A queued job then never runs (a worker that dequeues it anyway finds the
    row not queued); a running job's work-horse is killed by RQ's stop-job
    command, and what the task committed so far stays. Returns how many changed.
    """
    candidates = list(jobs.select_related(None).select_for_update().filter(status_in(*ACTIVE_STATUSES)))
    if not candidates:
        return 0
    now = timezone.now()
    changed = BackgroundJob.objects.filter(pk__in=[job.pk for job in candidates], status__in=ACTIVE_STATUSES).update(
        status=JobStatus.CANCELLED,
        error_message=truncate(reason, ERROR_MESSAGE_MAX),
        completed_at=now,
        updated_at=now,
    )
    _record_events(jobs=candidates, action="cancel", reason=reason, after=JobStatus.CANCELLED, actor=by, source=source)
    transaction.on_commit(lambda: _stop_rq_jobs(candidates))
    events.job_events_publish_for(job_ids=[job.pk for job in candidates])
    return changed


@transaction.atomic
def background_job_reenqueue(*, job: BackgroundJob, reason: str, source: str = "reconciler") -> bool:
    """Put a queued row's lost RQ job back on its queue (same RQ id); records a "reenqueue" event."""
    if not BackgroundJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(updated_at=timezone.now()):
        return False
    _record_events(jobs=[job], action="reenqueue", reason=reason, after=JobStatus.QUEUED, source=source)
    _enqueue_after_commit([job])
    return True


@transaction.atomic
def background_job_mark_requeued(*, job: BackgroundJob, reason: str, source: str = "reconciler") -> bool:
    """running → queued for a row whose RQ job RQ itself put back on the queue (abandoned-job retry)."""
    changed = BackgroundJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, rq_job_id=job.rq_job_id).update(
        status=JobStatus.QUEUED,
        error_message=truncate(f"Retrying after: {reason}", ERROR_MESSAGE_MAX),
        updated_at=timezone.now(),
    )
    if changed:
        _record_events(jobs=[job], action="requeue", reason=reason, after=JobStatus.QUEUED, source=source)
        events.job_events_publish_for(job_ids=[job.pk])
    return changed == 1


def _project_rq_keys(connection) -> list[str]:
    """This project's RQ keys: its queues and registries and the jobs on them.

    Leaves alone: other projects' queues and jobs, worker registrations (live
    processes own them) and rq-scheduler's periodic entries (restarting
    `rqscheduler` re-registers them). A `rq:job:*` key of the wrong Redis type is
    included: it is corrupt and unreadable by anyone.
    """
    from jobs.schedules import SCHEDULE_ID_PREFIX
    from scribes import queues

    keys: set[str] = set()
    job_ids: set[str] = set()
    for name in queues.ALL:
        for template in rqkeys.RQ_QUEUE_KEY_TEMPLATES:
            key = template.format(name)
            kind = connection.type(key).decode()
            if kind == "none":
                continue
            keys.add(key)
            if kind == "list":
                job_ids.update(raw.decode() for raw in connection.lrange(key, 0, -1))
            elif kind == "zset":
                # started-registry members are "<job id>:<execution id>"
                job_ids.update(raw.decode().split(":")[0] for raw in connection.zrange(key, 0, -1))
    job_ids.update(BackgroundJob.objects.filter(status_in(*ACTIVE_STATUSES)).values_list("rq_job_id", flat=True))
    for raw in connection.scan_iter(match="rq:job:*", count=1000):
        key = raw.decode()
        rest = key[len("rq:job:") :]
        if ":" in rest:
            continue
        kind = connection.type(key).decode()
        if kind != "hash":
            keys.add(key)
        elif (connection.hget(key, "origin") or b"").decode() in queues.ALL:
            job_ids.add(rest)
    scheduled = (
        {raw.decode() for raw in connection.zrange("rq:scheduler:scheduled_jobs", 0, -1)}
        if (connection.type("rq:scheduler:scheduled_jobs").decode() == "zset")
        else set()
    )
    for job_id in job_ids:
        if job_id in scheduled or job_id.startswith(SCHEDULE_ID_PREFIX):
            continue
        for template in rqkeys.RQ_JOB_KEY_TEMPLATES:
            keys.add(template.format(job_id))
    pipe = connection.pipeline(transaction=False)
    ordered = sorted(keys)
    for key in ordered:
        pipe.exists(key)
    return [key for key, exists in zip(ordered, pipe.execute(), strict=True) if exists]


def rq_queues_reset(*, apply: bool, by=None, reason: str = "") -> dict:
    """Clear this project's RQ keys and fail its queued/running rows (never FLUSHDB).

    Without `apply` nothing changes; the return value says what would. Rows are
    failed first, so a job still running cannot complete a row whose RQ job was
    deleted under it.
    """
    from jobs.selectors import rq_connection

    connection = rq_connection()
    keys = _project_rq_keys(connection)
    active = BackgroundJob.objects.filter(status_in(*ACTIVE_STATUSES))
    report = {"keys": keys, "rows": active.count(), "applied": apply}
    if not apply:
        return report
    report["rows"] = background_job_mark_failed(
        jobs=active,
        reason=reason or "Queues reset by an operator (reset_queues): the RQ job was deleted",
        by=by,
        source="command",
        action="reset_queues",
    )
    for start in range(0, len(keys), 500):
        connection.delete(*keys[start : start + 500])
    return report
