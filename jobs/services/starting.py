"""Starting jobs: create the queued row and enqueue its RQ job once the transaction commits."""

from __future__ import annotations

import functools
import logging
import uuid

import django_rq
import django_rq.queues
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Callback, Retry
from rq.job import Dependency

from common.exceptions import ServiceUnavailable
from common.requestid import request_id_var
from common.text import truncate
from jobs import transitions
from jobs.models import BackgroundJob, JobStatus
from jobs.registry import TaskSpec, get_task
from jobs.services.worker import ERROR_MESSAGE_MAX

logger = logging.getLogger("jobs.services")


class JobEnqueueError(ServiceUnavailable):
    """The row was created but Redis refused the job; the row is marked failed."""


def background_job_start(*, job_type: str, user=None, params: dict | None = None) -> BackgroundJob:
    """Create a queued row and enqueue its RQ job once the transaction commits.

    Inside an outer transaction the enqueue waits for that commit, so a worker
    never looks for a row that is not there yet. Outside one it happens before
    this returns, and a Redis failure raises `JobEnqueueError` (row marked failed).
    """
    spec = get_task(job_type)
    job_row = _queued_row(spec, user=user, params=params)
    with transaction.atomic():
        transitions.create_queued(rows=[job_row])
        transaction.on_commit(lambda: background_job_enqueue(job_row=job_row, spec=spec))
    return job_row


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
        request_id=request_id_var.get(),
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


def _enqueue_arguments(job_row: BackgroundJob, spec: TaskSpec) -> dict:
    """The RQ job for a row: the same id, kwargs, meta and failure callback on every path."""
    retry = None
    if spec.max_retries:
        retry = Retry(max=spec.max_retries, interval=list(spec.retry_intervals) or 0)
    return {
        "kwargs": {"background_job_id": str(job_row.job_id), **job_row.params},
        "job_id": job_row.rq_job_id,
        "timeout": spec.timeout or settings.JOB_TIMEOUT,
        "result_ttl": settings.JOB_RESULT_TTL,
        "failure_ttl": settings.JOB_RESULT_TTL * 7,
        "retry": retry,
        "on_failure": Callback("jobs.callbacks.on_job_failure"),
        "meta": {"background_job_id": str(job_row.job_id), "job_type": job_row.job_type},
        "description": f"{job_row.job_type} {job_row.job_id}",
    }


def background_job_enqueue(*, job_row: BackgroundJob, spec: TaskSpec | None = None) -> None:
    """Put the RQ job for `job_row` on its queue (the queue its task declared)."""
    spec = spec or get_task(job_row.job_type)
    try:
        queue = _queue(spec.queue)
        queue.enqueue_call(func=spec.entry, **_enqueue_arguments(job_row, spec))
    except RedisError as exc:
        raise _enqueue_refused([job_row], spec, exc) from exc
    logger.info("Job %s (%s) enqueued on queue %s", job_row.job_id, job_row.job_type, spec.queue)


def background_job_enqueue_continuation(*, job_row: BackgroundJob, rq_job_id: str, kwargs: dict, depends_on=()) -> None:
    """Enqueue the next RQ job (`rq_job_id`) of a running row, once `depends_on` (RQ ids; may fail) have ended.

    Same timeout, TTLs, retry policy, meta and failure callback as the row's first
    job. When Redis refuses, the row is failed and `JobEnqueueError` raised.
    """
    spec = get_task(job_row.job_type)
    arguments = _enqueue_arguments(job_row, spec)
    arguments["job_id"] = rq_job_id
    arguments["kwargs"] = {"background_job_id": str(job_row.job_id), "job_type": job_row.job_type, **kwargs}
    # The reconciler leaves a running row alone while its continuation waits on the queue.
    arguments["meta"] = {**arguments["meta"], "continuation": True}
    if depends_on:
        arguments["depends_on"] = Dependency(jobs=list(depends_on), allow_failure=True)
    try:
        # By name (jobs.runner's `Continue` entry point): runner imports this module.
        _queue(spec.queue).enqueue_call(func="jobs.runner.run_continuation", **arguments)
    except RedisError as exc:
        raise _enqueue_refused([job_row], spec, exc) from exc
    logger.info("Job %s (%s) continues as RQ job %s", job_row.job_id, job_row.job_type, rq_job_id)


def _enqueue_refused(job_rows: list[BackgroundJob], spec: TaskSpec, exc: RedisError) -> JobEnqueueError:
    """Fail the rows Redis refused (those still active) with the reason; the error to raise."""
    reason = f"Could not enqueue on queue {spec.queue!r}: Redis unavailable ({type(exc).__name__}: {exc})"
    logger.error(
        "%d %s job(s) (%s): %s",
        len(job_rows),
        spec.job_type,
        ", ".join(str(row.job_id) for row in job_rows[:3]),
        reason,
    )
    transitions.fail(
        job_ids=[row.pk for row in job_rows],
        error=truncate(reason, ERROR_MESSAGE_MAX),
        final=True,
        now=timezone.now(),
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
    job_rows = [_queued_row(spec, user=item.get("user"), params=item.get("params")) for item in items]
    if not job_rows:
        return []
    with transaction.atomic():
        transitions.create_queued(rows=job_rows)
        transaction.on_commit(lambda: _enqueue_many(job_rows, spec))
    return job_rows


def _enqueue_many(job_rows: list[BackgroundJob], spec: TaskSpec) -> None:
    try:
        queue = _queue(spec.queue)
        queue.enqueue_many([queue.prepare_data(spec.entry, **_enqueue_arguments(row, spec)) for row in job_rows])
    except RedisError as exc:
        raise _enqueue_refused(job_rows, spec, exc) from exc
    logger.info("%d %s job(s) enqueued on queue %s", len(job_rows), spec.job_type, spec.queue)


def enqueue_after_commit(job_rows: list[BackgroundJob]) -> None:
    """Enqueue each row's RQ job once the transaction commits; a refused one is failed, the others still go."""

    def enqueue():
        for row in job_rows:
            try:
                background_job_enqueue(job_row=row)
            except JobEnqueueError:
                pass  # the row is failed with the reason

    transaction.on_commit(enqueue)


def background_job_create_running(*, job_type: str, rq_job_id: str, queue: str, params: dict) -> BackgroundJob:
    """Create the row of a job that RQ started without one (periodic jobs)."""
    return transitions.start_running(
        job_type=job_type, rq_job_id=rq_job_id, queue=queue, params=params, now=timezone.now()
    )
