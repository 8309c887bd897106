"""Whether each periodic job (the sweep, the reconciler) keeps running and succeeding: one selector for
/health, doctor's `periodic:<job>` findings and the alerts.

A periodic job is *failing* when its last PERIODIC_FAILING_RUNS finished runs all
failed (one failure among successes is a blip the next tick repairs), and
*overdue* when its last finished run is more than two cron intervals (plus a
minute of scheduler and queue slack) old: a run still going after that long
holds up the ticks behind it too. A job that never ran is neither: a fresh
install has no runs, and a missing scheduler or worker is reported on its own.
One read per periodic job, on the finished-rows index (completed_at), as
/metrics' scribes_periodic_last_run_timestamp_seconds reads it: cheap enough
for every /health poll.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from django.utils import timezone

from jobs.models import BackgroundJob, JobStatus
from jobs.schedules import all_periodic_jobs

PERIODIC_FAILING_RUNS = 2
OVERDUE_SLACK = timedelta(minutes=1)


def _interval(cron: str, at: datetime) -> timedelta:
    itr = croniter(cron, at)
    first = itr.get_next(datetime)
    return itr.get_next(datetime) - first


def periodic_job_health(*, now: datetime | None = None) -> list[dict]:
    """[{job_type, failing, failed_runs, last_error, overdue, last_finished, interval_seconds}], one per
    periodic job."""
    now = now or timezone.now()
    states = []
    for periodic in all_periodic_jobs():
        interval = _interval(periodic.cron(), now)
        finished = list(
            BackgroundJob.objects.filter(
                job_type=periodic.job_type,
                status__in=[JobStatus.COMPLETED, JobStatus.FAILED],
                completed_at__isnull=False,
            )
            .order_by("-completed_at")
            .values("status", "error_message", "completed_at")[:PERIODIC_FAILING_RUNS]
        )
        failed = 0
        for run in finished:
            if run["status"] != JobStatus.FAILED:
                break
            failed += 1
        last_finished = finished[0]["completed_at"] if finished else None
        states.append(
            {
                "job_type": periodic.job_type,
                "failing": failed >= PERIODIC_FAILING_RUNS,
                "failed_runs": failed,
                "last_error": finished[0]["error_message"] if failed else "",
                "overdue": last_finished is not None and now - last_finished > 2 * interval + OVERDUE_SLACK,
                "last_finished": last_finished,
                "interval_seconds": int(interval.total_seconds()),
            }
        )
    return states


def periodic_job_problems(states: list[dict]) -> list[str]:
    """The /health problem lines for `states` (no error text: /health is unauthenticated)."""
    problems = []
    for state in states:
        if state["failing"]:
            problems.append(
                f"periodic task {state['job_type']} failed its last {state['failed_runs']} runs "
                "(`manage.py doctor` shows the error)"
            )
        if state["overdue"]:
            problems.append(
                f"periodic task {state['job_type']} is overdue: last finished "
                f"{state['last_finished']:%Y-%m-%d %H:%M:%S} UTC, due every {state['interval_seconds']} s"
            )
    return problems
