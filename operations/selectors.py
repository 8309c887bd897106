"""The operators' reads of the jobs table and of one job's RQ side: the SQL recipes of the old troubleshooting guide."""

from __future__ import annotations

import redis
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F
from redis.exceptions import RedisError
from rq import Worker

from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import QUEUE_KEY, QUEUES_KEY, rq_connection


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
