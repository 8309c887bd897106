"""Periodic jobs that `manage.py rqscheduler` registers with rq-scheduler.

Each periodic job has a fixed schedule id, so registering again replaces the
entry instead of adding a second one (rq-scheduler adds a new entry per call
without a fixed id, and each entry fires every tick). Entries under our prefix
that no longer belong to the project are removed. A periodic job whose task moved
to another queue (renamed queues, SCRIBES_QUEUE_PREFIX) is re-registered there:
the same id replaces the entry and its origin, and a run already waiting on the
retired queue, which no worker serves, is dropped (the next tick runs it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from jobs.registry import get_task
from jobs.rqkeys import (
    RUN_ONCE_ID_PREFIX,
    SCHEDULE_ID_PREFIX,
    SCHEDULED_JOBS_KEY,
    SCHEDULER_INSTANCE_KEY,
    rq_connection,
)

logger = logging.getLogger(__name__)

#: Instance name of the one rq-scheduler `manage.py rqscheduler` runs.
SCHEDULER_NAME = "scribes"
SCHEDULER_KEY = SCHEDULER_INSTANCE_KEY.format(SCHEDULER_NAME)


def scheduler_alive(connection) -> bool:
    """Whether `manage.py rqscheduler` runs: two calls in one round trip."""
    pipe = connection.pipeline(transaction=False)
    pipe.exists(SCHEDULER_KEY)
    pipe.hexists(SCHEDULER_KEY, "death")
    exists, dead = pipe.execute()
    return bool(exists) and not dead


@dataclass(frozen=True)
class PeriodicJob:
    job_type: str
    #: Returns the cron string (read from settings when the scheduler starts).
    cron: Callable[[], str]

    @property
    def schedule_id(self) -> str:
        return SCHEDULE_ID_PREFIX + self.job_type


_PERIODIC: dict[str, PeriodicJob] = {}


def periodic_job(job_type: str, *, cron: Callable[[], str]) -> PeriodicJob:
    job = PeriodicJob(job_type=job_type, cron=cron)
    _PERIODIC[job_type] = job
    return job


def all_periodic_jobs() -> list[PeriodicJob]:
    return sorted(_PERIODIC.values(), key=lambda job: job.job_type)


def register_periodic_jobs(scheduler) -> list[str]:
    """Make the scheduler's entries under our prefix exactly `all_periodic_jobs()`.

    Idempotent: running it ten times leaves one entry per periodic job.
    Returns a description line per registered job.
    """
    wanted = {job.schedule_id: job for job in all_periodic_jobs()}
    origins = {}
    for existing in scheduler.get_jobs():
        origins[existing.id] = existing.origin
        if existing.id.startswith(SCHEDULE_ID_PREFIX) and existing.id not in wanted:
            scheduler.cancel(existing)
            logger.info("Removed obsolete periodic job %s", existing.id)
    lines = []
    for schedule_id, job in wanted.items():
        spec = get_task(job.job_type)
        retired = origins.get(schedule_id)
        if retired and retired != spec.queue:
            dropped = Queue(retired, connection=scheduler.connection).remove(schedule_id)
            logger.warning(
                "Periodic job %s moves from queue %s to %s%s",
                schedule_id,
                retired,
                spec.queue,
                "; its run waiting on the old queue was dropped, the next tick runs it" if dropped else "",
            )
        cron = job.cron()
        scheduler.cron(
            cron,
            func=spec.entry,
            id=schedule_id,
            queue_name=spec.queue,
            timeout=spec.timeout,
            result_ttl=3600,
            description=f"periodic {job.job_type} ({cron})",
            meta={"periodic": True, "job_type": job.job_type},
        )
        lines.append(f"{job.job_type}: cron {cron!r} on queue {spec.queue} (schedule id {schedule_id})")
    return lines


def task_run_at(job_type: str, *, at: datetime, key: str, **kwargs) -> str:
    """Have `manage.py rqscheduler` enqueue `job_type`'s task once at `at`; returns the RQ job id.

    One pending run per `key`, the earliest: a run of the key already waiting
    for `at` or sooner is kept (its id returned), a later one is cancelled and
    replaced. So callers that each know of one due time never push a run back;
    the task, when it runs, plans the next. Each run gets an id of its own: a
    run that already started (the caller itself, often) is never touched. Like
    a periodic run, it gets its BackgroundJob row when it starts.
    """
    from rq_scheduler import Scheduler

    if at.microsecond:  # rq-scheduler keeps whole seconds: round up, never run early
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    spec = get_task(job_type)
    connection = rq_connection()
    prefix = f"{RUN_ONCE_ID_PREFIX}{key}-"
    pending = {
        member.decode(): score for member, score in connection.zscan_iter(SCHEDULED_JOBS_KEY, match=f"{prefix}*")
    }
    sooner = [job_id for job_id, score in pending.items() if score <= at.timestamp()]
    if sooner:
        return sooner[0]
    for job_id in pending:
        # Lost to the scheduler between the scan and here: it was enqueued, and runs too.
        if connection.zrem(SCHEDULED_JOBS_KEY, job_id):
            try:
                Job.fetch(job_id, connection=connection).delete()
            except NoSuchJobError:
                pass
    rq_job = Scheduler(queue_name=spec.queue, connection=connection).enqueue_at(
        at,
        spec.entry,
        job_id=f"{prefix}{uuid.uuid4().hex}",
        queue_name=spec.queue,
        timeout=spec.timeout,
        job_result_ttl=3600,
        job_description=f"{job_type} once at {at.isoformat()}",
        meta={"job_type": job_type},
        **kwargs,
    )
    return rq_job.id


def _scheduler_base():
    from django_rq.queues import DjangoScheduler

    return DjangoScheduler


class ScribesScheduler(_scheduler_base()):
    """rq-scheduler that survives a Redis restart instead of dying or going quiet.

    rq-scheduler's loop lets a connection error end the process, and after a
    Redis flush it keeps running with no periodic entries and no instance key
    (so nothing fires and /health calls it dead). This subclass retries lost
    connections with backoff, re-creates its instance key when it vanished, and
    re-registers missing periodic entries before each poll (one ZMSCORE).
    """

    max_backoff = 30.0
    _backoff = 1.0

    def __init__(self, *args, interval=60, **kwargs):
        super().__init__(*args, interval=interval, **kwargs)
        #: The instance key lives one poll interval plus 10 s, as rq-scheduler's own heartbeat sets it.
        self.key_ttl = int(interval) + 10

    def heartbeat(self):
        if not self.connection.expire(self.key, self.key_ttl):
            logger.warning("Scheduler key %s vanished (Redis restarted or flushed); registering again", self.key)
            self.register_birth()
        # Redis answers again: the next outage starts over with a short wait.
        self._backoff = 1.0

    def enqueue_jobs(self):
        self.ensure_periodic_jobs()
        return super().enqueue_jobs()

    def ensure_periodic_jobs(self) -> bool:
        """Re-register the periodic entries if any is missing; True when it had to."""
        ids = [job.schedule_id for job in all_periodic_jobs()]
        if not ids:
            return False
        scores = self.connection.zmscore(self.scheduled_jobs_key, ids)
        missing = [schedule_id for schedule_id, score in zip(ids, scores, strict=True) if score is None]
        if not missing:
            return False
        logger.warning("Periodic entries missing from Redis (%s); registering them again", ", ".join(missing))
        register_periodic_jobs(self)
        return True

    def run(self, burst=False):
        while True:
            try:
                return super().run(burst=burst)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                logger.error("rq-scheduler lost Redis (%s); retrying in %.0f s", exc, self._backoff)
                time.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self.max_backoff)

    def register_birth(self):
        # A restart after a crash finds our own key still alive: take it over
        # rather than refusing to start (the rqscheduler command already waited
        # for any other live instance before getting here).
        with self.connection.pipeline() as pipe:
            pipe.delete(self.key)
            pipe.hset(self.key, "birth", time.time())
            pipe.expire(self.key, self.key_ttl)
            pipe.execute()

    def register_death(self):
        try:
            super().register_death()
        except (RedisConnectionError, RedisTimeoutError):
            pass  # Redis is gone; the key expires by itself
