"""/metrics: job outcomes as counters and times as histograms from the console's totals; reminder lateness."""

from datetime import timedelta

import pytest
from django.utils import timezone

from common import queues
from operations.stats import job_stats_roll_up
from operations.tests.test_dashboard import _finished

pytestmark = pytest.mark.django_db


def _metrics(admin_client):
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_outcome_counters_and_time_histograms_grow_once_per_job(admin_client, redis_conn):
    _finished(3, minutes_ago=30, wait=2.0, run=8.0)
    _finished(1, minutes_ago=60, status="failed")
    job_stats_roll_up()
    # prometheus_client sorts labels by name
    labels = f'job_type="semantic_regenerate",queue="{queues.SYSTEM}"'
    outcome = 'job_type="semantic_regenerate",outcome="{}",queue="' + queues.SYSTEM + '"'
    text = _metrics(admin_client)
    assert "scribes_job_outcomes_total{" + outcome.format("completed") + "} 3.0" in text
    assert "scribes_job_outcomes_total{" + outcome.format("failed") + "} 1.0" in text
    assert (
        f'scribes_job_run_seconds_bucket{{job_type="semantic_regenerate",le="10",queue="{queues.SYSTEM}"}} 4.0' in text
    )
    assert (
        f'scribes_job_run_seconds_bucket{{job_type="semantic_regenerate",le="5",queue="{queues.SYSTEM}"}} 0.0' in text
    )
    assert f"scribes_job_queue_wait_seconds_count{{{labels}}} 4.0" in text
    assert f"scribes_job_run_seconds_sum{{{labels}}} 34.0" in text  # 3 × 8 s + 10 s

    _finished(2, minutes_ago=2)  # finished since the last pass
    job_stats_roll_up()
    job_stats_roll_up(now=timezone.now() + timedelta(minutes=30))  # later passes never count a bucket twice
    assert "scribes_job_outcomes_total{" + outcome.format("completed") + "} 5.0" in _metrics(admin_client)


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
    from jobs.models import BackgroundJob, JobStatus
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
