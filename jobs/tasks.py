"""RQ entry points of the jobs app: the periodic stuck-job reconciler."""

from collections import Counter

from django.conf import settings

from common import queues
from jobs.hooks import housekeeping
from jobs.reconciler import background_jobs_reconcile
from jobs.runner import tracked_task
from jobs.schedules import periodic_job

RECONCILE_JOB_TYPE = "jobs_reconcile"


@tracked_task(RECONCILE_JOB_TYPE, queue=queues.SYSTEM, timeout=300)
def reconcile_jobs(ctx):
    repairs = background_jobs_reconcile(exclude=[ctx.job_id])
    figures = {}
    for _name, func in housekeeping():
        figures.update(func())
    return {
        "repaired": len(repairs),
        **figures,
        "by_action": dict(Counter(repair.action for repair in repairs)),
        "jobs": [str(repair) for repair in repairs[:50]],
    }


# Every minute by default (JOBS_RECONCILE_CRON), not every 5 minutes: with the
# default heartbeat settings that keeps "worker killed → row failed" under 2
# minutes, and a pass is two pipelined Redis reads plus one query when nothing
# is wrong.
periodic_job(RECONCILE_JOB_TYPE, cron=lambda: settings.JOBS_RECONCILE_CRON)
