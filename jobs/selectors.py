"""Reads on BackgroundJob rows, and the operator facts of RQ's state (each computed here once).

Workers per queue, queue lengths, scheduler alive and stuck jobs are read by
/health, doctor, the dashboard, the bundle and metrics alike, through these.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from common import queues
from common.env import mask_url
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from jobs.rqkeys import QUEUE_KEY, probe_connection, rq_connection
from jobs.schedules import scheduler_alive

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


def workers_by_queue(connection: redis.Redis | None = None) -> dict[str, list[str]]:
    """The live workers listening on each project queue (their names), in two round trips.

    RQ's per-queue sets keep a killed worker until RQ cleans them; only a worker
    whose own key has not expired is alive.
    """
    connection = connection or rq_connection()
    pipe = connection.pipeline(transaction=False)
    for name in queues.ALL:
        pipe.smembers(WORKERS_BY_QUEUE_KEY % name)
    per_queue = [sorted(member.decode() for member in members) for members in pipe.execute()]
    members = sorted(set().union(*per_queue))
    alive = {}
    if members:
        check = connection.pipeline(transaction=False)
        for member in members:
            check.exists(member)
        alive = dict(zip(members, check.execute(), strict=True))
    prefix = Worker.redis_worker_namespace_prefix
    return {
        name: [member.removeprefix(prefix) for member in queue_members if alive.get(member)]
        for name, queue_members in zip(queues.ALL, per_queue, strict=True)
    }


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
