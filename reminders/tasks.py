"""RQ entry point of the due-reminder sweep, its periodic schedule and its follow-ups."""

from django.conf import settings
from rq import get_current_job

from common import queues
from jobs.runner import tracked_task
from jobs.schedules import periodic_job
from reminders import services
from reminders.follow_ups import follow_up_horizon, sweep_follow_up_request
from reminders.selectors import SWEEP_JOB_TYPE, sweep_slot


@tracked_task(SWEEP_JOB_TYPE, queue=queues.SYSTEM)
def sweep_due_reminders(ctx, *, manual: bool = False, follow_up: bool = False):
    """Send every due reminder once. Scheduled copies are guarded per cron slot.

    The slot comes from the RQ job's enqueue time: rq-scheduler re-enqueues one
    fixed job id each tick, so copies that piled up while no worker ran all carry
    the latest enqueue time, share one slot, and all but the first do nothing.
    Manual runs (`manage.py sweep_reminders`) skip the slot guard, not the overlap guard.

    A scheduled sweep that sees a reminder coming due before the next tick asks
    for a follow-up sweep at that time (reminders/follow_ups.py); a tick with
    nothing due in the coming minute still costs one query.
    """
    slot = None
    if not manual and not follow_up:
        rq_job = get_current_job()
        enqueued_at = rq_job.enqueued_at if rq_job and rq_job.enqueued_at else ctx.row.started_at
        slot = sweep_slot(at=enqueued_at)
    horizon = None if manual else follow_up_horizon()
    result = services.reminder_sweep_run(slot=slot, background_job=ctx.row, progress=ctx.progress, horizon=horizon)
    next_due = result.pop("next_due", None)
    if next_due is not None:
        at = sweep_follow_up_request(due=next_due)
        if at is not None:
            result["follow_up_at"] = at.isoformat()
        else:
            ctx.log.warning("No follow-up sweep scheduled for the reminder due at %s", next_due.isoformat())
    return result


periodic_job(SWEEP_JOB_TYPE, cron=lambda: settings.REMINDER_SWEEP_CRON)
