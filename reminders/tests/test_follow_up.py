"""Follow-up sweeps: a reminder due between two ticks goes out at its time, not at the next tick."""

import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq_scheduler import Scheduler

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import RUN_ONCE_ID_PREFIX, SCHEDULED_JOBS_KEY
from jobs.schedules import task_run_at
from jobs.tests.utils import work_burst
from reminders import services
from reminders.follow_ups import FOLLOW_UP_KEY, FOLLOW_UP_MIN_GAP
from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.selectors import SWEEP_JOB_TYPE, reminder_sweep_outlook, sweep_next
from reminders.tasks import sweep_due_reminders

pytestmark = pytest.mark.django_db(transaction=True)


def _pending_follow_ups(redis_conn) -> dict[str, float]:
    prefix = f"{RUN_ONCE_ID_PREFIX}{FOLLOW_UP_KEY}-"
    return {
        member.decode(): score
        for member, score in redis_conn.zrange(SCHEDULED_JOBS_KEY, 0, -1, withscores=True)
        if member.decode().startswith(prefix)
    }


def _tick():
    """Run the periodic sweep through a worker, as rq-scheduler's tick would."""
    django_rq.get_queue(queues.SYSTEM).enqueue(sweep_due_reminders)
    work_burst()
    return BackgroundJob.objects.filter(job_type=SWEEP_JOB_TYPE).order_by("-started_at").first()


def _fire(redis_conn):
    """Let rq-scheduler enqueue whatever is scheduled now or earlier (time moved on), then work it."""
    for member in _pending_follow_ups(redis_conn):
        redis_conn.zadd(SCHEDULED_JOBS_KEY, {member: time.time() - 1})
    Scheduler(queue_name=queues.SYSTEM, connection=redis_conn, interval=1).enqueue_jobs()
    work_burst()


def test_outlook_is_the_earliest_reminder_a_sweep_could_act_on(user, note):
    now = timezone.now()
    assert reminder_sweep_outlook(now=now, horizon=now + timedelta(minutes=1)) is None
    later = Reminder.objects.create(user=user, note=note, scheduled_at=now + timedelta(seconds=40))
    Reminder.objects.create(user=user, note=note, scheduled_at=now + timedelta(minutes=5))
    backing_off = Reminder.objects.create(user=user, note=note, scheduled_at=now - timedelta(minutes=1))
    Reminder.objects.filter(pk=backing_off.pk).update(next_attempt_at=now + timedelta(seconds=10))
    assert reminder_sweep_outlook(now=now, horizon=now + timedelta(minutes=1)) == later.scheduled_at
    assert reminder_sweep_outlook(now=now, horizon=now + timedelta(seconds=30)) is None
    Reminder.objects.filter(pk=backing_off.pk).update(next_attempt_at=now)
    assert reminder_sweep_outlook(now=now, horizon=now) == backing_off.scheduled_at


@pytest.fixture
def hourly_ticks(settings):
    """Ticks far apart, so a reminder due in a minute is always between two ticks, whenever the test runs."""
    settings.REMINDER_SWEEP_CRON = "0 * * * *"
    if sweep_next() - timezone.now() < timedelta(minutes=2):
        settings.REMINDER_SWEEP_CRON = "30 * * * *"


def test_a_tick_asks_for_one_follow_up_at_the_next_due_time(redis_conn, user, note, hourly_ticks):
    due = timezone.now() + timedelta(seconds=60)
    reminder = Reminder.objects.create(user=user, note=note, scheduled_at=due)
    row = _tick()
    assert row.status == JobStatus.COMPLETED
    assert row.result_data["sent"] == 0 and "follow_up_at" in row.result_data
    assert not ReminderSweepSlot.objects.exists()  # nothing due: no slot taken
    (score,) = _pending_follow_ups(redis_conn).values()
    assert abs(score - due.timestamp()) < 1
    _tick()  # a second tick moves the pending follow-up instead of adding one
    assert len(_pending_follow_ups(redis_conn)) == 1

    # Its time comes (moved rather than waited for), and so does the follow-up's.
    Reminder.objects.filter(pk=reminder.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    _fire(redis_conn)
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.SENT
    follow_up = BackgroundJob.objects.filter(job_type=SWEEP_JOB_TYPE, params={"follow_up": True}).get()
    assert follow_up.status == JobStatus.COMPLETED and follow_up.result_data["sent"] == 1
    assert not ReminderSweepSlot.objects.exists()  # follow-ups are not cron slots
    assert _pending_follow_ups(redis_conn) == {}  # nothing more due before the next tick


def test_nothing_due_before_the_next_tick_schedules_nothing(redis_conn, user, note):
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(minutes=3))
    row = _tick()
    assert "follow_up_at" not in row.result_data
    assert _pending_follow_ups(redis_conn) == {}


def test_follow_ups_are_spaced_by_the_minimum_gap(redis_conn, user, note, make_due, hourly_ticks):
    make_due(1)
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(seconds=1))
    before = timezone.now()
    row = _tick()
    assert row.result_data["sent"] == 1
    (score,) = _pending_follow_ups(redis_conn).values()
    # rq-scheduler keeps whole seconds.
    assert score >= int((before + FOLLOW_UP_MIN_GAP).timestamp())


def test_a_run_once_keeps_the_earliest_pending_run_of_its_key_only(redis_conn):
    at = timezone.now() + timedelta(minutes=10)
    first = task_run_at(SWEEP_JOB_TYPE, at=at, key="a", follow_up=True)
    other = task_run_at(SWEEP_JOB_TYPE, at=at, key="b", follow_up=True)
    assert task_run_at(SWEEP_JOB_TYPE, at=at + timedelta(seconds=5), key="a", follow_up=True) == first  # later: kept
    sooner = task_run_at(SWEEP_JOB_TYPE, at=at - timedelta(seconds=5), key="a", follow_up=True)  # sooner: replaces
    scheduled = {member.decode() for member in redis_conn.zrange(SCHEDULED_JOBS_KEY, 0, -1)}
    assert scheduled == {other, sooner} and first != sooner
    assert not redis_conn.exists(f"rq:job:{first}")


def test_a_reminder_created_due_before_the_next_tick_asks_for_its_follow_up(
    redis_conn, auth_client, note, hourly_ticks
):
    due = timezone.now() + timedelta(seconds=90)
    response = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": due.isoformat()}, format="json")
    assert response.status_code == 201, response.content
    (score,) = _pending_follow_ups(redis_conn).values()
    assert int(due.timestamp()) <= score <= due.timestamp() + 1
    later = timezone.now() + timedelta(seconds=150)  # a later one does not push the pending run back
    response = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": later.isoformat()}, format="json")
    assert response.status_code == 201, response.content
    assert list(_pending_follow_ups(redis_conn).values()) == [score]


def test_manual_sweeps_schedule_no_follow_up(redis_conn, user, note):
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(seconds=20))
    assert "follow_up_at" not in sweep_due_reminders(manual=True)
    assert _pending_follow_ups(redis_conn) == {}
    assert "next_due" not in services.reminder_sweep_run()


def test_an_unschedulable_follow_up_does_not_fail_the_sweep(redis_conn, user, note, hourly_ticks, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr("reminders.follow_ups.task_run_at", unreachable)
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(seconds=60))
    row = _tick()
    assert row.status == JobStatus.COMPLETED
    assert "follow_up_at" not in row.result_data
    assert "No follow-up sweep scheduled" in row.log
