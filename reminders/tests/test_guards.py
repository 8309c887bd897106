"""The sweep's guards on a real Redis: no overlap, one sweep per slot; and the command."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from jobs.models import BackgroundJob, JobStatus
from reminders import services
from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.selectors import reminder_sweep_has_work

pytestmark = pytest.mark.django_db(transaction=True)


def test_overlapping_sweep_is_skipped_and_lock_released_after(redis_conn, make_due):
    make_due(2)
    running = services.sweep._SweepLock()
    assert running.acquire()
    assert services.reminder_sweep_run()["skipped"] == "another sweep is still running"
    assert Reminder.objects.filter(status=ReminderStatus.PENDING).count() == 2
    running.release()
    assert services.reminder_sweep_run()["sent"] == 2
    assert not redis_conn.exists(services.SWEEP_LOCK_KEY)


def test_lock_has_a_ttl_so_a_killed_sweep_does_not_block_forever(redis_conn, settings):
    settings.REMINDER_SWEEP_LOCK_TTL = 30
    lock = services.sweep._SweepLock()
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


def test_sweep_reminders_command_says_when_another_sweep_runs(redis_conn, make_due):
    make_due(1)  # with nothing due the command returns before it looks at the lock
    running = services.sweep._SweepLock()
    assert running.acquire()
    with pytest.raises(CommandError, match="another sweep is still running"):
        call_command("sweep_reminders")
    running.release()


def test_a_tick_with_nothing_due_costs_one_query(redis_conn, make_due, user, note, django_assert_num_queries):
    # A future reminder and one waiting out its retry backoff: neither is work now.
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(minutes=5))
    (backoff,) = make_due(1)
    Reminder.objects.filter(pk=backoff.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    slot = datetime(2030, 1, 31, 12, 15, tzinfo=UTC)
    with django_assert_num_queries(1):
        assert services.reminder_sweep_run(slot=slot) == {"due": 0, "sent": 0, "failed": 0, "retrying": 0}
    assert not ReminderSweepSlot.objects.exists()  # no slot row for an empty tick
    assert not redis_conn.exists(services.SWEEP_LOCK_KEY)
    # Once it is due, the next tick finds it.
    Reminder.objects.filter(pk=backoff.pk).update(next_attempt_at=timezone.now())
    assert services.reminder_sweep_run(slot=slot)["sent"] == 1


def test_an_abandoned_delivery_is_work_for_the_next_tick(make_due, settings):
    (reminder,) = make_due(1)
    long_ago = timezone.now() - timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS + 60)
    Reminder.objects.filter(pk=reminder.pk).update(
        delivery_started_at=long_ago, next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert reminder_sweep_has_work(now=timezone.now())


def test_taking_a_slot_prunes_old_slots(redis_conn, make_due):
    slot = datetime(2030, 1, 31, 12, 15, tzinfo=UTC)
    ReminderSweepSlot.objects.create(slot=slot - services.SLOT_RETENTION - timedelta(minutes=1))
    kept = ReminderSweepSlot.objects.create(slot=slot - timedelta(hours=1))
    make_due(1)
    assert services.reminder_sweep_run(slot=slot)["sent"] == 1
    assert set(ReminderSweepSlot.objects.values_list("slot", flat=True)) == {kept.slot, slot}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's (production)")
def test_the_empty_tick_query_reads_the_due_index():
    sql_holder = []

    def capture(execute, sql, params, many, context):
        sql_holder.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        reminder_sweep_has_work(now=timezone.now())
    ((sql, params),) = sql_holder
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert "reminder_due_pending_idx" in json.dumps(plan)
