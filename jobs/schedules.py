"""Periodic jobs that `manage.py rqscheduler` registers with rq-scheduler.

Each periodic job has a fixed schedule id, so registering again replaces the
entry instead of adding a second one (rq-scheduler adds a new entry per call
without a fixed id, and each entry fires every tick). Entries under our prefix
that no longer belong to the project are removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from jobs.registry import get_task

logger = logging.getLogger(__name__)

#: RQ accepts only letters, digits, "_" and "-" in job ids (rq.job.JOB_ID_PATTERN).
SCHEDULE_ID_PREFIX = "scribes-periodic-"
#: Instance name of the one rq-scheduler `manage.py rqscheduler` runs.
SCHEDULER_NAME = "scribes"
#: rq-scheduler keeps this hash alive (TTL interval + 10 s) and writes `death` on exit.
SCHEDULER_KEY = "rq:scheduler_instance:" + SCHEDULER_NAME


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
    for existing in scheduler.get_jobs():
        if existing.id.startswith(SCHEDULE_ID_PREFIX) and existing.id not in wanted:
            scheduler.cancel(existing)
            logger.info("Removed obsolete periodic job %s", existing.id)
    lines = []
    for schedule_id, job in wanted.items():
        spec = get_task(job.job_type)
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
