"""Reads on BackgroundJob rows and on RQ's state in Redis."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from common import queues
from common.env import mask_url
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from jobs.rqkeys import QUEUE_KEY, rq_connection
from jobs.schedules import SCHEDULER_KEY

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _probe_connection(url: str) -> redis.Redis:
    # Short timeouts: a health probe must answer even when Redis hangs.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def redis_health() -> dict:
    """Redis reachability, live worker count and queue lengths in one pipeline."""
    url = settings.REDIS_URL
    if not url:
        return {"redis": "error: REDIS_URL is not set", "workers": None, "queues": {}}
    connection = _probe_connection(url)
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.ping()
        for name in queues.ALL:
            pipe.llen(QUEUE_KEY.format(name))
        for name in queues.ALL:
            pipe.smembers(WORKERS_BY_QUEUE_KEY % name)
        # `manage.py rqscheduler` keeps its instance hash alive (TTL interval +
        # 10 s) and writes a `death` field when it stops.
        pipe.exists(SCHEDULER_KEY)
        pipe.hexists(SCHEDULER_KEY, "death")
        results = pipe.execute()
        count = len(queues.ALL)
        lengths = dict(zip(queues.ALL, results[1 : 1 + count], strict=True))
        per_queue = results[1 + count : 1 + 2 * count]
        scheduler_alive = bool(results[-2]) and not results[-1]
        # The per-queue sets keep a killed worker until RQ cleans them; only a
        # worker whose own key has not expired is alive.
        members = sorted(set().union(*per_queue))
        alive = {}
        if members:
            check = connection.pipeline(transaction=False)
            for member in members:
                check.exists(member)
            alive = dict(zip(members, check.execute(), strict=True))
        workers = sum(1 for member in members if alive.get(member))
        by_queue = {
            name: sum(1 for member in queue_members if alive.get(member))
            for name, queue_members in zip(queues.ALL, per_queue, strict=True)
        }
    except RedisError as exc:
        logger.warning("Health check: Redis at %s unreachable: %s", mask_url(url), exc)
        return {"redis": f"error: {type(exc).__name__}", "workers": None, "queues": {}, "scheduler": None}
    return {
        "redis": "ok",
        "workers": workers,
        "workers_by_queue": by_queue,
        "queues": lengths,
        "scheduler": "ok" if scheduler_alive else "not running",
    }


def live_workers(connection: redis.Redis | None = None) -> list[Worker]:
    return Worker.all(connection=connection or rq_connection())


def background_job_get_for_user(*, user, job_id) -> BackgroundJob | None:
    return BackgroundJob.objects.filter(pk=job_id, user=user).first()


def background_job_list_for_user(*, user, status: str | None = None, job_type: str | None = None) -> QuerySet:
    jobs = BackgroundJob.objects.filter(user=user).order_by("-created_at")
    if status:
        jobs = jobs.filter(status=status)
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    return jobs


def background_job_active_for_user(*, user, job_type: str) -> BackgroundJob | None:
    return (
        BackgroundJob.objects.filter(status__in=ACTIVE_STATUSES, user=user, job_type=job_type)
        .order_by("-created_at")
        .first()
    )


# --- Operations: the SQL recipes of the old troubleshooting guide ---------------


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


def background_job_stuck(*, running_for_minutes: int, queued_for_minutes: int) -> QuerySet:
    """Running longer than `running_for_minutes`, or queued longer than `queued_for_minutes`."""
    now = timezone.now()
    return (
        BackgroundJob.objects.filter(
            Q(status=JobStatus.RUNNING, started_at__lt=now - timedelta(minutes=running_for_minutes))
            | Q(status=JobStatus.QUEUED, created_at__lt=now - timedelta(minutes=queued_for_minutes)),
        )
        .select_related("user")
        .order_by("created_at")
    )


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
