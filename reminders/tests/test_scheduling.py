"""rq-scheduler 0.14 on rq 3 on a real Redis: idempotent registration and one sweep per tick."""

import subprocess
import time
from datetime import UTC, datetime

import django_rq
import pytest
from rq_scheduler import Scheduler

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.schedules import all_periodic_jobs, register_periodic_jobs
from jobs.tests.utils import work_burst
from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.selectors import SCHEDULED_JOBS_KEY, SWEEP_SCHEDULE_ID, sweep_slot
from reminders.tasks import sweep_due_reminders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def file_mail(settings, tmp_path):
    """A mail backend that the forked work-horse writes to, so the test can count sends."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")

    def sent_ids():
        ids = []
        for path in (tmp_path / "mail").glob("*.log"):
            for line in path.read_text().splitlines():
                if line.startswith("X-Scribes-Reminder:"):
                    ids.append(int(line.split(":", 1)[1]))
        return sorted(ids)

    return sent_ids


def _scheduler(redis_conn, name=None):
    return Scheduler(queue_name=queues.SYSTEM, connection=redis_conn, interval=1, name=name)


def _make_due(redis_conn, scheduler):
    """Move the sweep's schedule entry into the past, as if its tick had come."""
    redis_conn.zadd(SCHEDULED_JOBS_KEY, {SWEEP_SCHEDULE_ID: time.time() - 1})


def _queue_len():
    return django_rq.get_queue(queues.SYSTEM).count


def test_registering_ten_times_leaves_one_entry(redis_conn):
    for _ in range(10):
        register_periodic_jobs(_scheduler(redis_conn))
    jobs = list(_scheduler(redis_conn).get_jobs())
    assert [job.id for job in jobs].count(SWEEP_SCHEDULE_ID) == 1
    assert len(jobs) == len(all_periodic_jobs())
    (job,) = [job for job in jobs if job.id == SWEEP_SCHEDULE_ID]
    assert job.meta["cron_string"] == "* * * * *"  # every minute by default
    assert job.origin == queues.SYSTEM
    assert job.func_name == "reminders.tasks.sweep_due_reminders"


def test_without_a_fixed_id_every_registration_adds_an_entry(redis_conn):
    # What the issue measured, and why jobs.schedules passes id=.
    scheduler = _scheduler(redis_conn)
    for _ in range(3):
        scheduler.cron("*/15 * * * *", func=sweep_due_reminders, queue_name=queues.SYSTEM)
    assert redis_conn.zcard(SCHEDULED_JOBS_KEY) == 3


def test_restarting_rqscheduler_process_keeps_one_entry(redis_conn, subprocess_env, manage_py):
    for _ in range(2):
        done = subprocess.run(
            [*manage_py, "rqscheduler", "--register-only"],
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "reminder_sweep: cron '* * * * *'" in done.stdout
    entries = [entry.decode() for entry in redis_conn.zrange(SCHEDULED_JOBS_KEY, 0, -1)]
    assert entries.count(SWEEP_SCHEDULE_ID) == 1
    assert len(entries) == len(all_periodic_jobs())


def test_scheduled_sweep_runs_through_a_worker_and_records_its_row(redis_conn, make_due, file_mail):
    reminders = make_due(3)
    scheduler = _scheduler(redis_conn)
    register_periodic_jobs(scheduler)
    _make_due(redis_conn, scheduler)
    scheduler.run(burst=True)
    assert _queue_len() == 1
    # rq-scheduler put the entry back for the next tick.
    assert redis_conn.zscore(SCHEDULED_JOBS_KEY, SWEEP_SCHEDULE_ID) > time.time()

    work_burst()

    row = BackgroundJob.objects.get(job_type="reminder_sweep")
    assert row.status == JobStatus.COMPLETED
    assert row.user is None and row.rq_job_id == SWEEP_SCHEDULE_ID
    assert row.result_data == {"due": 3, "sent": 3, "failed": 0, "retrying": 0}
    assert file_mail() == sorted(r.pk for r in reminders)
    slot = ReminderSweepSlot.objects.get()
    assert slot.background_job_id == row.job_id
    assert slot.slot == sweep_slot(at=slot.slot)


def test_backlog_copies_piled_up_without_a_worker_run_one_sweep(redis_conn, make_due, file_mail):
    reminders = make_due(5)
    scheduler = _scheduler(redis_conn)
    register_periodic_jobs(scheduler)
    for _ in range(3):  # three ticks pass while no worker runs
        _make_due(redis_conn, scheduler)
        scheduler.enqueue_jobs()
    assert _queue_len() == 3  # one RQ job id, three copies in the queue

    work_burst()

    rows = list(BackgroundJob.objects.filter(job_type="reminder_sweep").order_by("started_at"))
    assert len(rows) == 3 and all(row.status == JobStatus.COMPLETED for row in rows)
    assert rows[0].result_data["sent"] == 5
    # The later copies find nothing due (the first sent everything) and stop after one query.
    assert [row.result_data["sent"] for row in rows[1:]] == [0, 0]
    assert file_mail() == sorted(r.pk for r in reminders)


def test_two_schedulers_on_one_tick_run_one_sweep(redis_conn, make_due, file_mail):
    reminders = make_due(4)
    first, second = _scheduler(redis_conn, "first"), _scheduler(redis_conn, "second")
    register_periodic_jobs(first)
    register_periodic_jobs(second)
    _make_due(redis_conn, first)
    # rq-scheduler's lock lets one of them in...
    assert first.acquire_lock() and not second.acquire_lock()
    first.remove_lock()
    # ...and when it fails (both saw the due entry before either moved it), the
    # per-tick guard still runs one sweep.
    due_for_first, due_for_second = list(first.get_jobs_to_queue()), list(second.get_jobs_to_queue())
    for job in due_for_first:
        first.enqueue_job(job)
    for job in due_for_second:
        second.enqueue_job(job)
    assert _queue_len() == 2

    work_burst()

    results = [row.result_data for row in BackgroundJob.objects.filter(job_type="reminder_sweep")]
    assert sorted(r["sent"] for r in results) == [0, 4]
    assert file_mail() == sorted(r.pk for r in reminders)
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 4


def test_slot_of_enqueue_time(settings):
    settings.REMINDER_SWEEP_CRON = "*/15 * * * *"
    at = datetime(2030, 1, 31, 12, 15, tzinfo=UTC)
    assert sweep_slot(at=at) == at
    assert sweep_slot(at=at.replace(minute=29, second=59)) == at
    assert sweep_slot(at=at.replace(minute=30)) == at.replace(minute=30)
    assert sweep_slot(at=datetime(2030, 1, 31, 12, 16)) == at  # naive is UTC (RQ's own times are UTC)
