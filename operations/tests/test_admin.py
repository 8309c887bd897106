"""Admin screens, the job-health page, /metrics and /health's worker and scheduler checks."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.tests import tasks  # noqa: F401
from operations.admin import STATUS_COLOURS

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobs_backgroundjob_changelist"


def _job(user, status, **extra):
    row = BackgroundJob.objects.create(job_type="test_progress", user=user, queue=queues.SYSTEM, status=status, **extra)
    row.rq_job_id = str(row.job_id)
    row.save(update_fields=["rq_job_id"])
    return row


def test_status_colour_map_covers_every_job_status():
    assert set(STATUS_COLOURS) == set(JobStatus.values)


def test_job_list_shows_coloured_status_progress_and_duration(admin_client, user, redis_conn):
    now = timezone.now()
    _job(user, JobStatus.COMPLETED, started_at=now - timedelta(seconds=75), completed_at=now, progress_percent=100,
         processed_items=3, total_items=3)  # fmt: skip
    _job(user, JobStatus.FAILED, error_message="ValueError: x")
    response = admin_client.get(reverse(CHANGELIST))
    html = response.content.decode()
    assert response.status_code == 200
    assert STATUS_COLOURS[JobStatus.COMPLETED] in html and STATUS_COLOURS[JobStatus.FAILED] in html
    assert "1 min 15 s" in html and "3/3" in html and "width:100%" in html


def test_job_list_shows_a_short_id_linking_to_the_page_with_the_full_id(admin_client, user, redis_conn):
    job = _job(user, JobStatus.COMPLETED)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert f'<code title="{job.job_id}">{str(job.job_id)[:8]}</code>' in html
    assert f">{job.job_id}<" not in html  # the full id is only in the title
    page = admin_client.get(reverse("admin:jobs_backgroundjob_change", args=[job.pk])).content.decode()
    assert str(job.job_id) in page


def test_job_list_filters_by_age_and_searches_by_username(admin_client, user, other_user, redis_conn):
    old = _job(user, JobStatus.RUNNING, started_at=timezone.now() - timedelta(hours=3))
    BackgroundJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    fresh = _job(other_user, JobStatus.QUEUED)
    html = admin_client.get(reverse(CHANGELIST), {"age": "older7d"}).content.decode()
    assert str(old.job_id) in html and str(fresh.job_id) not in html
    html = admin_client.get(reverse(CHANGELIST), {"age": "running1h"}).content.decode()
    assert str(old.job_id) in html and str(fresh.job_id) not in html
    html = admin_client.get(reverse(CHANGELIST), {"q": "bob"}).content.decode()
    assert str(fresh.job_id) in html and str(old.job_id) not in html


def test_detail_page_shows_rq_state_beside_row_and_the_mismatch(admin_client, user, redis_conn):
    import django_rq

    row = _job(user, JobStatus.RUNNING, started_at=timezone.now())
    html = admin_client.get(reverse("admin:jobs_backgroundjob_change", args=[row.pk])).content.decode()
    assert "Mismatch: The row is active but its RQ job is missing from Redis." in html

    django_rq.get_queue(queues.SYSTEM).enqueue_call(func="jobs.tests.tasks.progress_task", job_id=row.rq_job_id)
    html = admin_client.get(reverse("admin:jobs_backgroundjob_change", args=[row.pk])).content.decode()
    assert "Row (database)" in html and f"RQ job {row.rq_job_id} (Redis)" in html
    assert "Mismatch: The row is running but RQ says queued." in html


def _act(client, action, rows):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(row.pk) for row in rows]},
        follow=True,
    )


def test_mark_failed_action_narrows_reports_count_and_audits(admin_client, admin_user, user, redis_conn):
    running = _job(user, JobStatus.RUNNING, started_at=timezone.now())
    done = _job(user, JobStatus.COMPLETED)
    response = _act(admin_client, "mark_failed", [running, done])
    assert "1 job(s) marked failed. 1 skipped (not queued or running)." in response.content.decode()
    running.refresh_from_db()
    done.refresh_from_db()
    assert running.status == JobStatus.FAILED and done.status == JobStatus.COMPLETED
    event = running.events.get()
    assert (event.actor, event.source, event.status_before, event.status_after) == (
        admin_user, "admin", "running", "failed"
    )  # fmt: skip
    # The audit trail is on the job's page.
    html = admin_client.get(reverse("admin:jobs_backgroundjob_change", args=[running.pk])).content.decode()
    assert "Audit trail" in html and "Marked failed by admin from the admin" in html


def test_retry_action_starts_a_new_attempt_on_the_queue(
    admin_client, user, redis_conn, django_capture_on_commit_callbacks
):
    from rq.job import Job

    failed = _job(user, JobStatus.FAILED, error_message="boom", attempts=1)
    queued = _job(user, JobStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        response = _act(admin_client, "retry", [failed, queued])
    assert "1 job(s) queued for a new attempt. 1 skipped (not failed or cancelled)." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.error_message == ""
    assert failed.rq_job_id != str(failed.job_id)  # a fresh RQ id per attempt
    assert Job.fetch(failed.rq_job_id, connection=redis_conn).get_status() == "queued"
    assert failed.events.get().action == "retry"


def test_cancel_action_cancels_queued_and_running_jobs_only(admin_client, user, redis_conn):
    queued = _job(user, JobStatus.QUEUED)
    running = _job(user, JobStatus.RUNNING)
    done = _job(user, JobStatus.COMPLETED)
    response = _act(admin_client, "cancel", [queued, running, done])
    assert "2 job(s) cancelled. 1 skipped (not queued or running)." in response.content.decode()
    assert BackgroundJob.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert BackgroundJob.objects.get(pk=running.pk).status == JobStatus.CANCELLED
    assert BackgroundJob.objects.get(pk=done.pk).status == JobStatus.COMPLETED


def test_actions_need_staff(client, user):
    client.force_login(user)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_job_health_page_is_linked_from_admin_index_and_shows_the_recipes(admin_client, user, redis_conn):
    _job(user, JobStatus.FAILED, error_message="ValueError: disk on fire", completed_at=timezone.now())
    index = admin_client.get(reverse("admin:index")).content.decode()
    url = reverse("admin:operations_jobhealth_changelist")
    assert url in index and "Job health" in index
    html = admin_client.get(url).content.decode()
    for section in ("Jobs by status", "Failures in the last 24 hours (1)", "Average completion time", "Queues",
                    "Workers", "Stuck and lost jobs"):  # fmt: skip
        assert section in html
    assert "disk on fire" in html
    assert "No live worker" in html


def test_job_health_page_refuses_non_staff(client, user):
    client.force_login(user)
    assert client.get(reverse("admin:operations_jobhealth_changelist")).status_code == 302


def test_metrics_need_token_or_staff_and_cover_jobs_and_queues(client, admin_client, user, settings, redis_conn):
    from jobs.tasks import RECONCILE_JOB_TYPE

    settings.METRICS_TOKEN = "scrape-me"
    _job(user, JobStatus.FAILED, completed_at=timezone.now())
    BackgroundJob.objects.create(
        job_type=RECONCILE_JOB_TYPE, queue=queues.SYSTEM, status=JobStatus.COMPLETED,
        completed_at=timezone.now(), result_data={"repaired": 2, "by_action": {}},
    )  # fmt: skip
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'scribes_jobs{job_type="test_progress",status="failed"} 1.0' in text
    assert 'scribes_jobs_failed_24h{job_type="test_progress"} 1.0' in text
    assert f'scribes_periodic_last_result{{job_type="{RECONCILE_JOB_TYPE}",key="repaired"}} 2.0' in text
    assert f'rq_jobs{{queue="{queues.SYSTEM}",status="queued"}}' in text  # django-rq's collector
    assert admin_client.get("/metrics").status_code == 200


def test_health_reports_scheduler_and_workers_per_queue(api_client, redis_conn):
    from django_rq import get_scheduler, get_worker

    from jobs.schedules import SCHEDULER_NAME

    body = api_client.get("/health").json()
    assert body["scheduler"] == "not running"
    assert any("rq-scheduler is not running" in problem for problem in body["problems"])

    worker = get_worker(*queues.ALL)
    worker.register_birth()
    scheduler = get_scheduler(name=queues.SYSTEM)
    scheduler.name = SCHEDULER_NAME
    scheduler.register_birth()
    try:
        body = api_client.get("/health").json()
    finally:
        worker.register_death()
        scheduler.register_death()
    assert body["status"] == "ok", body
    assert body["scheduler"] == "ok" and body["workers_by_queue"] == {name: 1 for name in queues.ALL}
    assert api_client.get("/health").json()["scheduler"] == "not running"  # death recorded


def test_job_list_reads_no_distinct_values_and_estimates_a_big_tables_total(
    admin_client, user, redis_conn, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from operations import admin_lists

    _job(user, JobStatus.COMPLETED)
    other = _job(user, JobStatus.FAILED)
    BackgroundJob.objects.filter(pk=other.pk).update(job_type="reminder_sweep")
    with CaptureQueriesContext(connection) as captured:
        html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert not [query for query in captured if "DISTINCT" in query["sql"]]
    assert "?job_type=regenerate_embeddings" in html and f"?queue={queues.SYSTEM}" in html
    assert admin_client.get(reverse(CHANGELIST), {"job_type": "reminder_sweep"}).context["cl"].result_count == 1

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_backgroundjob")
        monkeypatch.setattr(admin_lists, "ESTIMATE_ABOVE", -1)
        with CaptureQueriesContext(connection) as captured:
            admin_client.get(reverse(CHANGELIST))
        assert any("reltuples" in query["sql"] for query in captured)
        assert not [query for query in captured if query["sql"].startswith("SELECT COUNT(*)")]
