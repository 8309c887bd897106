"""The sweep's guards on a real Redis: no overlap, one sweep per slot; and the command."""

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from jobs.models import BackgroundJob, JobStatus
from reminders import services
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_overlapping_sweep_is_skipped_and_lock_released_after(redis_conn, make_due):
    make_due(2)
    running = services._SweepLock()
    assert running.acquire()
    assert services.reminder_sweep_run()["skipped"] == "another sweep is still running"
    assert Reminder.objects.filter(status=ReminderStatus.PENDING).count() == 2
    running.release()
    assert services.reminder_sweep_run()["sent"] == 2
    assert not redis_conn.exists(services.SWEEP_LOCK_KEY)


def test_lock_has_a_ttl_so_a_killed_sweep_does_not_block_forever(redis_conn, settings):
    settings.REMINDER_SWEEP_LOCK_TTL = 30
    lock = services._SweepLock()
    assert lock.acquire()
    assert 0 < redis_conn.pttl(services.SWEEP_LOCK_KEY) <= 30_000
    lock.release()


def test_second_sweep_of_a_slot_is_a_no_op(redis_conn, make_due):
    slot = datetime(2030, 1, 31, 12, 15, tzinfo=UTC)
    make_due(1)
    assert services.reminder_sweep_run(slot=slot)["sent"] == 1
    make_due(1)
    assert services.reminder_sweep_run(slot=slot)["skipped"].startswith("slot 2030-01-31T12:15:00")
    assert services.reminder_sweep_run(slot=slot.replace(minute=30))["sent"] == 1


def test_sweep_reminders_command_runs_now_and_records_a_row(redis_conn, make_due, capsys):
    make_due(2)
    call_command("sweep_reminders")
    out = capsys.readouterr().out
    assert "2 due, 2 sent, 0 failed" in out
    row = BackgroundJob.objects.get(job_type="reminder_sweep")
    assert row.status == JobStatus.COMPLETED and row.user is None
    assert row.result_data == {"due": 2, "sent": 2, "failed": 0, "retrying": 0}
    assert str(row.job_id) in out
    # Manual runs are not slot-guarded: a second one runs (and finds nothing).
    call_command("sweep_reminders")
    assert "0 due, 0 sent" in capsys.readouterr().out


def test_sweep_reminders_command_says_when_another_sweep_runs(redis_conn):
    running = services._SweepLock()
    assert running.acquire()
    with pytest.raises(CommandError, match="another sweep is still running"):
        call_command("sweep_reminders")
    running.release()
