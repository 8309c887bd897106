"""Fault test: two `rqscheduler` and two `rqworker` processes for 20 sweep ticks; one sweep per tick, no double send.

rq-scheduler's cron has minute resolution in production, which would make 20
ticks take 20 minutes. The test compresses time instead of faking it: the
processes run with a sweep cron of every 3 seconds. rq-scheduler parses cron
with the `crontab` package (a 7-field cron starts with seconds) and the worker's
per-tick guard with `croniter` (a 6-field cron ends with seconds), so each gets
the "every 3 s" spelling its parser reads; the reminders.E001 check accepts only
five-field crons, hence `--skip-checks`. Everything else is the real path:
registration, the scheduler's lock and standby, the fixed job id, the slot
guard, the sweep lock, claims, and the file mail backend counting sends.

The SMTP-down-then-back promise is proven in-process by
`reminders/tests/test_services.py::test_smtp_down_then_recovery_sends_once`.
"""

import os
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.tests.faultutils import Child
from jobs.tests.utils import wait_for
from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.selectors import SWEEP_JOB_TYPE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TICKS = max(3, int(os.environ.get("FAULT_TICKS", "20")))
TICK_SECONDS = 3
SCHEDULER_CRON = f"*/{TICK_SECONDS} * * * * * *"  # crontab: seconds first
WORKER_CRON = f"* * * * * */{TICK_SECONDS}"  # croniter: seconds last
PER_TICK = 3


def _mail_counts(directory) -> Counter:
    counts = Counter()
    for path in directory.glob("*.log"):
        for line in path.read_text().splitlines():
            if line.startswith("X-Scribes-Reminder:"):
                counts[int(line.split(":", 1)[1])] += 1
    return counts


def test_two_schedulers_two_workers_one_sweep_per_tick(user, note, redis_conn, manage_py, subprocess_env, tmp_path):
    mail_dir = tmp_path / "mail"
    env = {
        **subprocess_env,
        "RQ_SCHEDULER_INTERVAL": "1",
        "RQ_JOB_MONITORING_INTERVAL": "1",
        "RQ_WORKER_TTL": "15",
        "SEMANTIC_EMBEDDER": "hashing",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        # Keep the every-minute reconciler out of the way: its rows are not sweeps anyway.
        "JOBS_RECONCILE_CRON": "0 0 1 1 *",
    }
    scheduler_env = {**env, "REMINDER_SWEEP_CRON": SCHEDULER_CRON}
    worker_env = {**env, "REMINDER_SWEEP_CRON": WORKER_CRON}
    # Reminders fall due tick after tick while the processes run.
    start = timezone.now() + timedelta(seconds=5)
    due_ticks = TICKS - 4
    Reminder.objects.bulk_create(
        Reminder(user=user, note=note, scheduled_at=start + timedelta(seconds=TICK_SECONDS * k + i))
        for k in range(due_ticks)
        for i in range(PER_TICK)
    )
    total = due_ticks * PER_TICK
    processes = []
    try:
        for n in range(2):
            processes.append(
                Child(
                    [*manage_py, "rqworker", "--without-scheduler", "--skip-checks"], worker_env, tmp_path / f"w{n}.log"
                )
            )
            processes.append(Child([*manage_py, "rqscheduler", "--skip-checks"], scheduler_env, tmp_path / f"s{n}.log"))
        wait_for(
            lambda: (
                BackgroundJob.objects.filter(job_type=SWEEP_JOB_TYPE).count() >= TICKS
                and not Reminder.objects.filter(status=ReminderStatus.PENDING).exists()
            ),
            timeout=TICKS * TICK_SECONDS + 60,
            interval=0.5,
            what=f"{TICKS} sweep runs and every reminder sent",
        )
        assert all(p.alive() for p in processes), [p.output()[-2000:] for p in processes if not p.alive()]
        # Stop the schedulers, then let the workers finish what was enqueued.
        for scheduler in processes[1::2]:
            scheduler.stop()
        wait_for(
            lambda: (
                not BackgroundJob.objects.filter(
                    job_type=SWEEP_JOB_TYPE, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
                ).exists()
                and redis_conn.llen(f"rq:queue:{queues.SYSTEM}") == 0
            ),
            timeout=30,
            what="the workers to drain the queue",
        )
    finally:
        for process in processes:
            process.stop()

    rows = list(BackgroundJob.objects.filter(job_type=SWEEP_JOB_TYPE))
    assert {row.status for row in rows} == {JobStatus.COMPLETED}
    swept = {row.pk for row in rows if "skipped" not in (row.result_data or {})}
    skipped = Counter(row.result_data["skipped"].split(" ")[0] for row in rows if row.pk not in swept)
    slots = list(ReminderSweepSlot.objects.values_list("background_job_id", flat=True))
    counts = _mail_counts(mail_dir)
    twice = sorted(pk for pk, n in counts.items() if n > 1)
    sent = Reminder.objects.filter(status=ReminderStatus.SENT).count()
    print(
        f"two schedulers, two workers: {len(slots)} ticks, {len(swept)} sweeps, {len(rows) - len(swept)} skipped "
        f"copies ({dict(skipped)}), {sent}/{total} reminders sent, {len(counts)} emailed, {len(twice)} sent twice"
    )
    # A tick with nothing due stops after one query and takes no slot; every
    # reminder fell due on its own tick, so at least that many slots were taken.
    assert len(slots) >= due_ticks
    # One sweep per tick: every run that sent anything holds the slot of its tick, and no tick has two.
    senders = {row.pk for row in rows if (row.result_data or {}).get("sent")}
    assert len(slots) == len(set(slots)) and senders <= set(slots) <= swept
    assert sent == total and sorted(counts) == sorted(Reminder.objects.values_list("pk", flat=True))
    assert twice == []
