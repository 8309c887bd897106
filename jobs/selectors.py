"""Reads on BackgroundJob rows and on RQ's state in Redis."""

from __future__ import annotations

import functools
import logging

import django_rq
import redis
from django.conf import settings
from django.db.models import QuerySet
from redis.exceptions import RedisError
from rq import Worker
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from jobs.models import ACTIVE_STATUSES, BackgroundJob
from scribes import queues
from scribes.env import mask_url

logger = logging.getLogger(__name__)


def rq_connection() -> redis.Redis:
    """The Redis connection RQ uses for the project queue."""
    return django_rq.get_connection(queues.DEFAULT)


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
            pipe.llen(f"rq:queue:{name}")
        for name in queues.ALL:
            pipe.smembers(WORKERS_BY_QUEUE_KEY % name)
        results = pipe.execute()
        count = len(queues.ALL)
        lengths = dict(zip(queues.ALL, results[1 : 1 + count], strict=True))
        # The per-queue sets keep a killed worker until RQ cleans them; only a
        # worker whose own key has not expired is alive.
        members = set().union(*results[1 + count :])
        workers = int(connection.exists(*members)) if members else 0
    except RedisError as exc:
        logger.warning("Health check: Redis at %s unreachable: %s", mask_url(url), exc)
        return {"redis": f"error: {type(exc).__name__}", "workers": None, "queues": {}}
    return {"redis": "ok", "workers": workers, "queues": lengths}


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
        BackgroundJob.objects.filter(user=user, job_type=job_type, status__in=ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )
