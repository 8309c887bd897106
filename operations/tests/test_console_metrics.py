"""/metrics: job outcomes as counters and times as histograms, counted as jobs finish; reminder lateness; the facts."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from common import queues
from jobs import transitions
from jobs.models import BackgroundJob, JobStatus

pytestmark = pytest.mark.django_db


def _metrics(admin_client):
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def _through_transitions(n, *, status=JobStatus.COMPLETED, wait=2.0, run=10.0):
    """n jobs created, claimed and finished through jobs.transitions (so the observers see them)."""
    now = timezone.now()
    created = now - timedelta(seconds=wait + run)
    rows = [BackgroundJob(job_type="semantic_regenerate", queue=queues.SYSTEM, rq_job_id=f"r{i}") for i in range(n)]
    transitions.create_queued(rows=rows)
    BackgroundJob.objects.filter(pk__in=[row.pk for row in rows]).update(created_at=created)
    for row in rows:
        transitions.claim(job_id=row.pk, now=created + timedelta(seconds=wait))
        if status == JobStatus.COMPLETED:
            transitions.complete(job_id=row.pk, result=None, total=None, now=now)
        elif status == JobStatus.FAILED:
            transitions.fail(job_ids=[row.pk], error="boom", final=True, now=now)
        else:
            transitions.cancel(job_ids=[row.pk], reason="stop", now=now)
    return rows


def test_outcome_counters_and_time_histograms_count_each_finish_once(
    admin_client, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        done = _through_transitions(3, wait=2.0, run=8.0)
        _through_transitions(1, status=JobStatus.FAILED)
        _through_transitions(1, status=JobStatus.CANCELLED)
        # Count nothing: a late second finish (it changes no row), a failure that only re-queues.
        transitions.complete(job_id=done[0].pk, result=None, total=None, now=timezone.now())
        again = _through_transitions(1)[0]
        transitions.retry(job_id=again.pk, from_status=JobStatus.COMPLETED, rq_job_id="r-again", now=timezone.now())
        transitions.claim(job_id=again.pk, now=timezone.now())
        transitions.fail(job_ids=[again.pk], error="once more", final=False, now=timezone.now())
    labels = f'job_type="semantic_regenerate",queue="{queues.SYSTEM}"'
    outcome = 'job_type="semantic_regenerate",outcome="{}",queue="' + queues.SYSTEM + '"'
    text = _metrics(admin_client)
    assert "scribes_job_outcomes_total{" + outcome.format("completed") + "} 4.0" in text
    assert "scribes_job_outcomes_total{" + outcome.format("failed") + "} 1.0" in text
    assert "scribes_job_outcomes_total{" + outcome.format("cancelled") + "} 1.0" in text
    assert (
        f'scribes_job_run_seconds_bucket{{job_type="semantic_regenerate",le="10",queue="{queues.SYSTEM}"}} 6.0' in text
    )
    assert (
        f'scribes_job_run_seconds_bucket{{job_type="semantic_regenerate",le="5",queue="{queues.SYSTEM}"}} 0.0' in text
    )
    assert f"scribes_job_queue_wait_seconds_count{{{labels}}} 6.0" in text
    assert f"scribes_job_run_seconds_sum{{{labels}}} 54.0" in text  # 3 × 8 s + 3 × 10 s

    with django_capture_on_commit_callbacks(execute=True):
        BackgroundJob.objects.all().delete()  # retention never lowers a counter
        _through_transitions(2)
    assert "scribes_job_outcomes_total{" + outcome.format("completed") + "} 6.0" in _metrics(admin_client)


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_moves_the_failure_counter_within_seconds(admin_client, redis_conn, manage_py, subprocess_env):
    """A real worker process fails a job; the counter in this (web) process moves at once, no rollup needed."""
    from jobs.services import background_job_start
    from jobs.tests import tasks  # noqa: F401  (registers test_fail)
    from jobs.tests.utils import WorkerProcess, wait_for

    failed = 'scribes_job_outcomes_total{job_type="test_fail",outcome="failed",queue="' + queues.SYSTEM + '"} 1.0'
    assert failed not in _metrics(admin_client)
    worker = WorkerProcess(manage_py, subprocess_env)
    try:
        row = background_job_start(job_type="test_fail", params={"message": "counted"})
        wait_for(lambda: BackgroundJob.objects.get(pk=row.pk).status == JobStatus.FAILED, timeout=60)
        finished = time.monotonic()
        wait_for(lambda: failed in _metrics(admin_client), timeout=5)
        assert time.monotonic() - finished < 5
    finally:
        worker.stop()


def test_reminder_lateness_histogram(admin_client, user, redis_conn):
    from notes.models import Note
    from reminders.models import Reminder, ReminderStatus

    note = Note.objects.create(user=user, title="t", content="c")
    now = timezone.now()
    for seconds in (5, 100, 5000):
        Reminder.objects.create(
            user=user,
            note=note,
            scheduled_at=now - timedelta(seconds=seconds),
            status=ReminderStatus.SENT,
            sent_at=now,
        )
    text = _metrics(admin_client)
    assert 'scribes_reminder_lateness_seconds_bucket{le="10"} 1.0' in text
    assert 'scribes_reminder_lateness_seconds_bucket{le="120"} 2.0' in text
    assert 'scribes_reminder_lateness_seconds_bucket{le="+Inf"} 3.0' in text
    assert "scribes_reminder_lateness_seconds_sum 5105.0" in text


def test_the_operator_facts_come_from_the_same_selectors_as_health(admin_client, redis_conn, api_client):
    from jobs.worker import ScribesSimpleWorker

    long_ago = timezone.now() - timedelta(hours=3)
    BackgroundJob.objects.create(
        job_type="test_progress", queue=queues.SYSTEM, rq_job_id="r1", status=JobStatus.RUNNING, started_at=long_ago
    )
    BackgroundJob.objects.create(job_type="test_progress", queue=queues.SYSTEM, rq_job_id="r2", status=JobStatus.QUEUED)
    worker = ScribesSimpleWorker([queues.SYSTEM], connection=redis_conn)
    worker.register_birth()
    redis_conn.rpush(f"rq:queue:{queues.SEMANTIC}", "a", "b")
    try:
        text = _metrics(admin_client)
        health = api_client.get("/health").json()
    finally:
        worker.register_death()
    assert 'scribes_jobs_stuck{job_type="test_progress"} 1.0' in text  # the running one; the queued one is new
    assert f'scribes_queue_workers{{queue="{queues.SYSTEM}"}} 1.0' in text
    assert f'scribes_queue_workers{{queue="{queues.SEMANTIC}"}} 0.0' in text
    assert f'scribes_queue_waiting{{queue="{queues.SEMANTIC}"}} 2.0' in text
    assert "scribes_scheduler_up 0.0" in text
    assert health["workers"] == 1 and health["queues"][queues.SEMANTIC] == 2
