"""The reads the apps make: their users' job rows, and the live workers on each queue.

The other operator facts (queue lengths, Redis health, stuck jobs) are operations.selectors.
"""

from __future__ import annotations

import redis
from django.db.models import QuerySet
from rq import Worker
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from common import queues
from jobs.models import ACTIVE_STATUSES, BackgroundJob
from jobs.rqkeys import rq_connection


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
