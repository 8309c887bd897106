"""doctor's reminder_sweep finding and the status selector behind it."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from common.diagnostics import FAIL, OK, WARN
from jobs.models import BackgroundJob, JobStatus
from jobs.schedules import register_periodic_jobs
from reminders.checks import E001, E002, check_claim_lease, check_sweep_cron
from reminders.diagnostics import reminder_sweep_finding
from reminders.models import Reminder
from reminders.selectors import reminder_sweep_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fifteen_minute_sweep(request, settings):
    # Most tests here use a 15-minute sweep to show the finding follows the
    # configured interval; the default one (every minute) has its own test.
    if "default_cron" not in request.keywords:
        settings.REMINDER_SWEEP_CRON = "*/15 * * * *"


def _register(redis_conn):
    from rq_scheduler import Scheduler

    from common import queues

    register_periodic_jobs(Scheduler(queue_name=queues.SYSTEM, connection=redis_conn))


def _sweep_row(minutes_ago):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return BackgroundJob.objects.create(
        job_type="reminder_sweep", queue="scribes", status=JobStatus.COMPLETED, started_at=started
    )


def test_missing_schedule_entry_is_fail(redis_conn):
    finding = reminder_sweep_finding()
    assert finding.level == FAIL and "not scheduled" in finding.message
    assert reminder_sweep_status()["overdue"] is True


def test_fresh_install_before_the_first_tick_is_ok_then_recent_run_ok(redis_conn):
    _register(redis_conn)
    finding = reminder_sweep_finding()
    assert finding.level == OK and "first run due" in finding.message, finding.message
    _sweep_row(minutes_ago=3)
    state = reminder_sweep_status()
    assert state["next_run"] > timezone.now() and state["interval_seconds"] == 900
    finding = reminder_sweep_finding()
    assert finding.level == OK, finding.message
    assert finding.data["next_run"] and finding.data["overdue"] is False


def test_not_run_for_two_intervals_is_fail_and_late_reminders_are_counted(redis_conn, make_due):
    _register(redis_conn)
    _sweep_row(minutes_ago=31)
    make_due(2, ago=timedelta(minutes=20))
    make_due(1)  # due a minute ago: not late yet
    finding = reminder_sweep_finding()
    assert finding.level == FAIL and "two intervals" in finding.message
    assert finding.data["late_reminders"] == 2 == Reminder.objects.count() - 1


@override_settings(REMINDER_SWEEP_CRON="every 15 minutes")
def test_bad_cron_is_a_startup_error():
    (error,) = check_sweep_cron(None)
    assert error.id == E001 and "*/15" in error.hint


@override_settings(REMINDER_CLAIM_LEASE_SECONDS=30, EMAIL_TIMEOUT=20)
def test_lease_shorter_than_smtp_timeouts_is_an_error():
    (error,) = check_claim_lease(None)
    assert error.id == E002


def test_default_settings_pass_the_checks():
    assert check_sweep_cron(None) == [] and check_claim_lease(None) == []


def test_paused_sweep_queue_is_a_warn_that_says_reminders_wait(redis_conn, make_due):
    from common import queues
    from operations.pausing import queue_pause

    _register(redis_conn)
    _sweep_row(minutes_ago=31)  # would be FAIL (two intervals) if the pause were not the reason
    make_due(1, ago=timedelta(minutes=20))
    queue_pause(name=queues.SYSTEM, by=None, reason="maintenance", source="command")
    finding = reminder_sweep_finding()
    assert finding.level == WARN, finding.message
    assert "paused" in finding.message and "reminders wait" in finding.message
    assert f"queues resume {queues.SYSTEM}" in finding.fix


@pytest.mark.default_cron
def test_with_the_default_minute_sweep_two_missed_minutes_are_overdue(redis_conn, make_due):
    _register(redis_conn)
    _sweep_row(minutes_ago=1)
    assert reminder_sweep_status()["interval_seconds"] == 60
    assert reminder_sweep_finding().level == OK
    _sweep_row(minutes_ago=3).delete()
    BackgroundJob.objects.filter(job_type="reminder_sweep").update(started_at=timezone.now() - timedelta(minutes=3))
    make_due(1, ago=timedelta(minutes=2))
    finding = reminder_sweep_finding()
    assert finding.level == FAIL and "two intervals" in finding.message and "(1 min)" in finding.message
    assert finding.data["late_reminders"] == 1
