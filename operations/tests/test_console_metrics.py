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
