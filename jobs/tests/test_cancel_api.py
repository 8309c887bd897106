"""POST /jobs/{id}/cancel: the owner's cancel, through the operator's service (in-process worker)."""

import uuid

import django_rq
import pytest
from rq.job import Job

from common import queues
from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel(client, job_id):
    return client.post(f"/jobs/{job_id}/cancel")


def test_a_cancelled_queued_job_never_runs(redis_conn, user, auth_client):
    job = background_job_start(job_type="test_progress", user=user, params={"steps": 2})
    response = _cancel(auth_client, job.job_id)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Job.fetch(job.rq_job_id, connection=redis_conn).get_status() == "canceled"
    assert django_rq.get_queue(queues.SYSTEM).count == 0

    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert (row.status, row.attempts, row.started_at) == (JobStatus.CANCELLED, 0, None)
    assert row.completed_at is not None and "alice" in row.error_message
    event = BackgroundJobEvent.objects.get(job=row)
    assert (event.action, event.actor, event.source) == ("cancel", user, "api")
    assert (event.status_before, event.status_after) == (JobStatus.QUEUED, JobStatus.CANCELLED)


def test_cancel_is_idempotent(redis_conn, user, auth_client):
    job = background_job_start(job_type="test_progress", user=user)
    first, second = _cancel(auth_client, job.job_id), _cancel(auth_client, job.job_id)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert BackgroundJobEvent.objects.filter(job_id=job.pk).count() == 1


def test_a_finished_job_is_a_409_and_stays_as_it_was(redis_conn, user, auth_client):
    job = background_job_start(job_type="test_progress", user=user)
    work_burst()
    response = _cancel(auth_client, job.job_id)
    assert response.status_code == 409 and "completed" in response.json()["detail"]
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED


def test_another_users_or_no_job_is_a_404(redis_conn, user, other_client, auth_client):
    job = background_job_start(job_type="test_progress", user=user)
    assert _cancel(other_client, job.job_id).status_code == 404
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert _cancel(auth_client, uuid.uuid4()).status_code == 404
    assert _cancel(auth_client, "not-a-uuid").status_code == 404


def test_a_task_stops_at_its_next_progress_write_once_cancelled(redis_conn, user, auth_client, settings):
    # What stops the body under ScribesSimpleWorker, where RQ's stop-job command kills nothing.
    from jobs import runner

    settings.JOBS_PROGRESS_INTERVAL_MS = 0
    row = BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING
    )
    context = runner.JobContext(row)
    context.progress(1, 10)
    assert _cancel(auth_client, row.job_id).status_code == 200
    with pytest.raises(runner.JobStopped):
        context.progress(2, 10)
    assert BackgroundJob.objects.get(pk=row.pk).processed_items == 1
