"""Follow-up sweeps: a reminder due between two cron ticks goes out at its time, not at the next tick.

A tick sends what is due since the last one, so alone it would send a reminder
set for 09:00:40 at 09:01. Whoever learns of a reminder coming due before the
next tick (a sweep, from the same query that ends an empty tick; a create or an
edit) asks rq-scheduler for one follow-up sweep at that time. One is pending at
a time (`jobs.schedules.task_run_at` replaces it), at least FOLLOW_UP_MIN_GAP
after the request so that reminders due close together share one; the follow-up
does the same in turn. Follow-ups take the overlap lock and the claims like
every sweep, but no cron slot. A follow-up that cannot be scheduled (Redis)
only leaves its reminders to the next tick.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone
from redis.exceptions import RedisError

from jobs.schedules import task_run_at
from reminders.selectors import SWEEP_JOB_TYPE, sweep_next

logger = logging.getLogger("reminders.sweep")

FOLLOW_UP_MIN_GAP = timedelta(seconds=5)
#: A reminder due this close to the next tick is left to the tick.
FOLLOW_UP_TICK_MARGIN = timedelta(seconds=3)
FOLLOW_UP_KEY = "reminder-follow-up"


def follow_up_horizon(*, now: datetime | None = None) -> datetime:
    """Reminders due before this get a follow-up; later ones are the next tick's."""
    return sweep_next(at=now) - FOLLOW_UP_TICK_MARGIN


def sweep_follow_up_request(*, due: datetime) -> datetime | None:
    """Schedule the follow-up sweep for a reminder due at `due`; returns when it runs, or None.

    None when the next tick comes first, or when Redis refused (logged).
    """
    now = timezone.now()
    if due >= follow_up_horizon(now=now):
        return None
    at = max(due, now + FOLLOW_UP_MIN_GAP)
    try:
        task_run_at(SWEEP_JOB_TYPE, at=at, key=FOLLOW_UP_KEY, follow_up=True)
    except RedisError as exc:
        logger.warning("Could not schedule the follow-up sweep for %s (Redis: %s); the next tick sends it", at, exc)
        return None
    return at
