"""RQ entry point of the due-reminder sweep and its periodic schedule."""

from django.conf import settings
from rq import get_current_job

from jobs.runner import tracked_task
from jobs.schedules import periodic_job
from reminders import services
from reminders.selectors import SWEEP_JOB_TYPE, sweep_slot
from scribes import queues


@tracked_task(SWEEP_JOB_TYPE, queue=queues.SYSTEM)
def sweep_due_reminders(ctx, *, manual: bool = False):
    """Send every due reminder once. Scheduled copies are guarded per cron slot.

    The slot comes from the RQ job's enqueue time: rq-scheduler re-enqueues one
    fixed job id each tick, so copies that piled up while no worker ran all carry
    the latest enqueue time, share one slot, and all but the first do nothing.
    Manual runs (`manage.py sweep_reminders`) skip the slot guard, not the overlap guard.
    """
    slot = None
    if not manual:
        rq_job = get_current_job()
        enqueued_at = rq_job.enqueued_at if rq_job and rq_job.enqueued_at else ctx.row.started_at
        slot = sweep_slot(at=enqueued_at)
    return services.reminder_sweep_run(slot=slot, background_job=ctx.row, progress=ctx.progress)


periodic_job(SWEEP_JOB_TYPE, cron=lambda: settings.REMINDER_SWEEP_CRON)
