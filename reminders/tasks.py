"""RQ entry point of the due-reminder sweep, its periodic schedule and its follow-ups."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rq import get_current_job

from jobs.runner import tracked_task
from jobs.schedules import periodic_job, task_run_at
from reminders import services
from reminders.selectors import SWEEP_JOB_TYPE, sweep_next, sweep_slot
from scribes import queues

#: A follow-up sweep runs no sooner than this after the sweep that asks for it: reminders
#: due close together share one follow-up instead of one job each.
FOLLOW_UP_MIN_GAP = timedelta(seconds=5)
#: A reminder due this close to the next tick is left to the tick.
FOLLOW_UP_TICK_MARGIN = timedelta(seconds=3)
FOLLOW_UP_KEY = "reminder-follow-up"


@tracked_task(SWEEP_JOB_TYPE, queue=queues.SYSTEM)
def sweep_due_reminders(ctx, *, manual: bool = False, follow_up: bool = False):
    """Send every due reminder once. Scheduled copies are guarded per cron slot.

    The slot comes from the RQ job's enqueue time: rq-scheduler re-enqueues one
    fixed job id each tick, so copies that piled up while no worker ran all carry
    the latest enqueue time, share one slot, and all but the first do nothing.
    Manual runs (`manage.py sweep_reminders`) skip the slot guard, not the overlap guard.

    A tick fires reminders due since the last one, so a reminder set for 09:00:40
    would wait for 09:01. Instead, a scheduled sweep that sees a reminder coming
    due before the next tick asks rq-scheduler for one follow-up sweep at that
    time (at least FOLLOW_UP_MIN_GAP later, one pending at a time), which does
    the same in turn: reminders go out within seconds of their time, and a tick
    with nothing due in the coming minute still costs one query.
    """
    slot = None
    if not manual and not follow_up:
        rq_job = get_current_job()
        enqueued_at = rq_job.enqueued_at if rq_job and rq_job.enqueued_at else ctx.row.started_at
        slot = sweep_slot(at=enqueued_at)
    horizon = None if manual else sweep_next() - FOLLOW_UP_TICK_MARGIN
    result = services.reminder_sweep_run(slot=slot, background_job=ctx.row, progress=ctx.progress, horizon=horizon)
    next_due = result.pop("next_due", None)
    if next_due is not None:
        at = max(next_due, timezone.now() + FOLLOW_UP_MIN_GAP)
        try:
            task_run_at(SWEEP_JOB_TYPE, at=at, key=FOLLOW_UP_KEY, follow_up=True)
        except RedisError as exc:  # the sweep itself succeeded; the next tick sends them
            ctx.log.warning("Could not schedule the follow-up sweep for %s (Redis: %s)", at.isoformat(), exc)
        else:
            result["follow_up_at"] = at.isoformat()
    return result


periodic_job(SWEEP_JOB_TYPE, cron=lambda: settings.REMINDER_SWEEP_CRON)
