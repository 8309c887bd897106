"""Reads on reminders and on the state of the periodic sweep (last run, next run)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from croniter import croniter
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import SCHEDULE_ID_PREFIX, SCHEDULED_JOBS_KEY
from reminders.models import Reminder, ReminderStatus

logger = logging.getLogger(__name__)

SWEEP_JOB_TYPE = "reminder_sweep"
SWEEP_SCHEDULE_ID = SCHEDULE_ID_PREFIX + SWEEP_JOB_TYPE  # the fixed rq-scheduler id


def reminder_list_for_user(*, user, status: str | None = None) -> QuerySet[Reminder]:
    reminders = Reminder.objects.filter(user=user)
    if status:
        reminders = reminders.filter(status=status)
    return reminders


def reminder_claimable(*, now: datetime, due_only: bool = True) -> QuerySet[Reminder]:
    """Pending reminders (due at `now`, unless not `due_only`) that no live sweep holds.

    A claim older than the lease belongs to a sweep that died before it started
    delivering; such reminders are claimable again.
    """
    lease_cutoff = now - timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS)
    reminders = Reminder.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=lease_cutoff),
        status=ReminderStatus.PENDING,
        delivery_started_at__isnull=True,
    )
    if due_only:
        reminders = reminders.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            scheduled_at__lte=now,
        )
    return reminders


def reminder_sweep_outlook(*, now: datetime, horizon: datetime) -> datetime | None:
    """When a sweep next has work, looking no further than `horizon`; a time at or before `now` means now.

    One query on the (status, scheduled_at) index: the earliest reminder that
    `reminders_sweep` could act on by then (due, retry due, or an abandoned
    delivery to fail), including a few it skips (a claim a live sweep holds).
    A reminder waiting out a retry backoff is left to the ticks. None when
    nothing comes due before `horizon`.
    """
    return (
        Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lte=horizon)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now) | Q(delivery_started_at__isnull=False))
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )


def reminder_sweep_has_work(*, now: datetime) -> bool:
    """Whether a sweep at `now` has anything to do (never False when there is work).

    With the sweep running every minute most ticks find nothing; this lets them
    stop after one indexed read.
    """
    return reminder_sweep_outlook(now=now, horizon=now) is not None


def reminder_due_count(*, now: datetime) -> int:
    return reminder_claimable(now=now).count()


def sweep_slot(*, at: datetime, cron: str | None = None) -> datetime:
    """The cron slot `at` belongs to: the latest scheduled time at or before it (UTC)."""
    if timezone.is_naive(at):
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    # croniter's get_prev from exactly a slot returns the slot before; cron has
    # minute resolution, so one second later lands in the right slot.
    return croniter(cron or settings.REMINDER_SWEEP_CRON, at + timedelta(seconds=1)).get_prev(datetime)


def sweep_next(*, at: datetime | None = None, cron: str | None = None) -> datetime:
    """The first cron tick after `at` (default now)."""
    return croniter(cron or settings.REMINDER_SWEEP_CRON, at or timezone.now()).get_next(datetime)


def sweep_interval(*, cron: str | None = None, at: datetime | None = None) -> timedelta:
    """The gap between two consecutive sweeps around `at` (cron may be irregular)."""
    itr = croniter(cron or settings.REMINDER_SWEEP_CRON, at or timezone.now())
    first = itr.get_next(datetime)
    return itr.get_next(datetime) - first


def sweep_next_run(connection=None) -> datetime | None:
    """When rq-scheduler will enqueue the sweep next; None when the entry is missing."""
    if connection is None:
        from jobs.rqkeys import rq_connection

        connection = rq_connection()
    score = connection.zscore(SCHEDULED_JOBS_KEY, SWEEP_SCHEDULE_ID)
    return None if score is None else datetime.fromtimestamp(score, tz=UTC)


def sweep_last_run() -> BackgroundJob | None:
    """The latest sweep that ran (or is running)."""
    return (
        BackgroundJob.objects.filter(
            status__in=[JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED],
            job_type=SWEEP_JOB_TYPE,
            started_at__isnull=False,
        )
        .order_by("-started_at")
        .first()
    )


def reminder_late_count(*, now: datetime | None = None, interval: timedelta | None = None) -> int:
    """Pending reminders more than one sweep interval past their time (doctor, /metrics)."""
    now = now or timezone.now()
    cutoff = now - (interval or sweep_interval(at=now))
    return Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lt=cutoff).count()


def reminder_sweep_status(*, now: datetime | None = None, connection=None) -> dict:
    """{last_run, last_status, next_run, overdue, interval_seconds, late_reminders, schedule_error}.

    `overdue` is True when the sweep has not run for two intervals (never having
    run counts only once a schedule entry exists and two intervals passed since
    it was expected) or when the schedule entry is missing.
    """
    now = now or timezone.now()
    interval = sweep_interval(at=now)
    last = sweep_last_run()
    schedule_error = ""
    try:
        next_run = sweep_next_run(connection)
    except RedisError as exc:
        next_run = None
        schedule_error = f"Redis unavailable ({type(exc).__name__})"
    late = reminder_late_count(now=now, interval=interval)
    if next_run is None:
        overdue = True
    elif last is None:
        overdue = False
    else:
        overdue = now - last.started_at > 2 * interval
    return {
        "last_run": last.started_at if last else None,
        "last_status": last.status if last else None,
        "last_result": last.result_data if last else None,
        "next_run": next_run,
        "overdue": overdue,
        "interval_seconds": int(interval.total_seconds()),
        "late_reminders": late,
        "schedule_error": schedule_error,
    }
