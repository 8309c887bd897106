"""What operators read: the facts of RQ's state, each computed here once, and the jobs table's recipes.

Workers per queue, queue lengths, scheduler alive and stuck jobs are read by
/health, doctor, the dashboard, the bundle and metrics alike, through these.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker

from common import queues
from common.env import mask_url
from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import QUEUE_KEY, QUEUES_KEY, probe_connection, rq_connection
from jobs.schedules import scheduler_alive
from jobs.selectors import workers_by_queue

logger = logging.getLogger(__name__)


def queue_lengths(connection: redis.Redis | None = None) -> dict[str, int]:
    """Jobs waiting on each project queue, in one round trip.

    A WRONGTYPE-corrupted queue key counts as empty here; doctor's redis-keys
    check names it and a worker quarantines it.
    """
    pipe = (connection or rq_connection()).pipeline(transaction=False)
    for name in queues.ALL:
        pipe.llen(QUEUE_KEY.format(name))
    lengths = pipe.execute(raise_on_error=False)
    return {name: n if isinstance(n, int) else 0 for name, n in zip(queues.ALL, lengths, strict=True)}


def redis_health() -> dict:
    """What /health, the dashboard and the bundle say of Redis: reachable, live workers, queue lengths, scheduler."""
    url = settings.REDIS_URL
    if not url:
        return {"redis": "error: REDIS_URL is not set", "workers": None, "queues": {}}
    # Short timeouts: a health probe must answer even when Redis hangs.
    connection = probe_connection()
    try:
        lengths = queue_lengths(connection)
        by_queue = workers_by_queue(connection)
        scheduler = scheduler_alive(connection)
    except RedisError as exc:
        logger.warning("Health check: Redis at %s unreachable: %s", mask_url(url), exc)
        return {"redis": f"error: {type(exc).__name__}", "workers": None, "queues": {}, "scheduler": None}
    return {
        "redis": "ok",
        "workers": len(set().union(*by_queue.values())),
        "workers_by_queue": {name: len(names) for name, names in by_queue.items()},
        "queues": lengths,
        "scheduler": "ok" if scheduler else "not running",
    }


def live_workers(connection: redis.Redis | None = None) -> list[dict]:
    """Every registered worker: name, queues, state, heartbeat, current job, birth and job counts."""

    def when(moment):
        return moment.isoformat() if moment else None

    return [
        {
            "name": worker.name,
            "queues": worker.queue_names(),
            "state": str(getattr(worker.get_state(), "value", worker.get_state())),
            "last_heartbeat": when(worker.last_heartbeat),
            "current_job": worker.get_current_job_id(),
            "birth": when(worker.birth_date),
            "successful_jobs": worker.successful_job_count,
            "failed_jobs": worker.failed_job_count,
        }
        for worker in Worker.all(connection=connection or rq_connection())
    ]


def background_job_stuck(*, running_for_minutes: int | None = None, queued_for_minutes: int | None = None) -> QuerySet:
    """Stuck jobs: running longer than `running_for_minutes`, or queued longer than `queued_for_minutes`.

    The defaults are the project's one definition: running past the job timeout
    and its grace, queued longer than JOBS_STUCK_QUEUED_MINUTES. Pass
    `queued_for_minutes=0` to leave queued rows out.
    """
    if running_for_minutes is None:
        running_for_minutes = max(1, (settings.JOB_TIMEOUT + settings.JOBS_TIMEOUT_GRACE) // 60)
    if queued_for_minutes is None:
        queued_for_minutes = settings.JOBS_STUCK_QUEUED_MINUTES
    now = timezone.now()
    stuck = Q(status=JobStatus.RUNNING, started_at__lt=now - timedelta(minutes=running_for_minutes))
    if queued_for_minutes:
        stuck |= Q(status=JobStatus.QUEUED, created_at__lt=now - timedelta(minutes=queued_for_minutes))
    return BackgroundJob.objects.filter(stuck).select_related("user").order_by("created_at")


def background_job_counts_by_status() -> dict[str, int]:
    """`SELECT status, COUNT(*) FROM background_jobs GROUP BY status`, every status present."""
    counts = dict(BackgroundJob.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in JobStatus.values}


def background_job_failures_since(*, since, limit: int = 20) -> tuple[int, list[BackgroundJob]]:
    """How many jobs failed since `since`, and the latest `limit` of them (with messages)."""
    failed = BackgroundJob.objects.filter(status=JobStatus.FAILED, completed_at__gte=since)
    return failed.count(), list(failed.select_related("user").order_by("-completed_at")[:limit])


def background_job_average_seconds_by_type() -> dict[str, float]:
    """Average run time (started → completed) of completed jobs, per job type."""
    duration = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    rows = (
        BackgroundJob.objects.filter(status=JobStatus.COMPLETED, started_at__isnull=False, completed_at__isnull=False)
        .order_by()
        .values("job_type")
        .annotate(avg=Avg(duration), n=Count("pk"))
    )
    return {row["job_type"]: round(row["avg"].total_seconds(), 3) for row in rows if row["avg"] is not None}


def rq_job_state(row: BackgroundJob, connection: redis.Redis | None = None) -> dict:
    """The RQ side of a row: status, registry, worker (and whether it is alive), exception.

    Returned as a flat dict for display beside the row; `error` is set when Redis
    cannot be read, `exists` is False when the RQ job is gone (result TTL
    expired, Redis flushed).
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        connection = connection or rq_connection()
        try:
            rq_job = Job.fetch(row.rq_job_id, connection=connection)
        except NoSuchJobError:
            return {"exists": False, "rq_job_id": row.rq_job_id}
        status = rq_job.get_status(refresh=False)
        worker_name = rq_job.worker_name or ""
        worker_heartbeat = None
        if worker_name:
            raw = connection.hget(Worker.redis_worker_namespace_prefix + worker_name, "last_heartbeat")
            worker_heartbeat = raw.decode() if raw else None
        exc_info = ""
        if status == "failed":
            result = rq_job.latest_result()
            exc_info = (result.exc_string if result else "") or ""
        return {
            "exists": True,
            "rq_job_id": rq_job.id,
            "status": str(getattr(status, "value", status)),
            "registry": RQ_REGISTRY_BY_STATUS.get(str(getattr(status, "value", status)), ""),
            "origin": rq_job.origin,
            "func": rq_job.func_name,
            "enqueued_at": rq_job.enqueued_at,
            "started_at": rq_job.started_at,
            "ended_at": rq_job.ended_at,
            "worker": worker_name,
            "worker_alive": worker_heartbeat is not None,
            "worker_last_heartbeat": worker_heartbeat,
            "retries_left": rq_job.retries_left,
            "timeout": rq_job.timeout,
            "exc_info": exc_info,
        }
    except RedisError as exc:
        return {"exists": None, "rq_job_id": row.rq_job_id, "error": f"Redis unavailable: {exc}"}


#: Where RQ keeps a job in each status (what the RQ dashboard calls registries).
RQ_REGISTRY_BY_STATUS = {
    "queued": "queue",
    "started": "StartedJobRegistry",
    "finished": "FinishedJobRegistry",
    "failed": "FailedJobRegistry",
    "deferred": "DeferredJobRegistry",
    "scheduled": "ScheduledJobRegistry",
    "stopped": "FailedJobRegistry",
    "canceled": "CanceledJobRegistry",
}

#: For each row status, the RQ statuses that agree with it.
RQ_STATUSES_MATCHING = {
    JobStatus.QUEUED: {"queued", "scheduled", "deferred", "started"},
    JobStatus.RUNNING: {"started"},
    JobStatus.COMPLETED: {"finished"},
    JobStatus.FAILED: {"failed", "stopped", "canceled"},
    JobStatus.CANCELLED: {"canceled", "stopped"},
}


def rq_state_mismatch(row: BackgroundJob, state: dict) -> str:
    """Why the row and its RQ job disagree, or "" when they agree (or RQ forgot a finished job)."""
    if state.get("exists") is None:
        return ""
    if not state["exists"]:
        return "The row is active but its RQ job is missing from Redis." if row.is_active else ""
    if state["status"] not in RQ_STATUSES_MATCHING.get(row.status, set()):
        return f"The row is {row.status} but RQ says {state['status']}."
    if row.status == JobStatus.RUNNING and not state["worker_alive"]:
        return f"The row is running but its worker {state['worker'] or '(none)'} is not alive."
    return ""


def queues_holding_jobs(connection) -> dict[str, int]:
    """Every queue RQ knows (`rq:queues`) with jobs waiting on its list: name → length (two round trips)."""
    prefix = QUEUE_KEY.format("")
    names = sorted(
        key[len(prefix) :]
        for key in (raw.decode() for raw in connection.smembers(QUEUES_KEY))
        if key.startswith(prefix)
    )
    pipe = connection.pipeline(transaction=False)
    for name in names:
        pipe.llen(QUEUE_KEY.format(name))
    # A WRONGTYPE-corrupted queue key counts as empty here; the redis-keys check reports it.
    lengths = pipe.execute(raise_on_error=False) if names else []
    return {name: n for name, n in zip(names, lengths, strict=True) if isinstance(n, int) and n}
