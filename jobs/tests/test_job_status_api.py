"""GET /jobs and GET /jobs/{id}: answers from the database, owner only."""

import uuid

import pytest

from common import queues
from jobs.models import BackgroundJob, JobStatus

pytestmark = pytest.mark.django_db


def _job(user, **extra):
    fields = {"job_type": "test_progress", "queue": queues.SYSTEM, **extra}
    return BackgroundJob.objects.create(user=user, **fields)


def test_job_detail_shape(auth_client, user):
    job = _job(user, status=JobStatus.RUNNING, processed_items=3, total_items=4, progress_percent=75)
    for path in (f"/jobs/{job.job_id}", f"/jobs/{job.job_id}/"):
        response = auth_client.get(path)
        assert response.status_code == 200
    body = response.json()
    assert {
        "job_id",
        "job_type",
        "status",
        "progress_percent",
        "processed_items",
        "total_items",
        "result_data",
        "error_message",
        "created_at",
        "started_at",
        "completed_at",
    } <= set(body)
    assert (body["job_id"], body["status"], body["progress_percent"]) == (str(job.job_id), "running", 75)


def test_job_detail_is_two_queries_at_most(auth_client, user, django_assert_max_num_queries):
    job = _job(user)
    with django_assert_max_num_queries(2):  # token lookup + the job row
        assert auth_client.get(f"/jobs/{job.job_id}").status_code == 200


def test_other_users_job_and_unknown_and_non_uuid_ids_are_404(auth_client, other_user):
    theirs = _job(other_user)
    assert auth_client.get(f"/jobs/{theirs.job_id}").status_code == 404
    assert auth_client.get(f"/jobs/{uuid.uuid4()}").status_code == 404
    response = auth_client.get("/jobs/not-a-uuid")
    assert response.status_code == 404
    assert "UUID" in response.json()["detail"]


def test_job_list_newest_first_and_filterable(auth_client, user, other_user):
    first = _job(user, status=JobStatus.COMPLETED)
    second = _job(user, status=JobStatus.FAILED, job_type="test_fail")
    _job(other_user)
    body = auth_client.get("/jobs").json()
    assert [r["job_id"] for r in body["results"]] == [str(second.job_id), str(first.job_id)]
    assert [r["job_id"] for r in auth_client.get("/jobs?status=completed").json()["results"]] == [str(first.job_id)]
    assert [r["job_id"] for r in auth_client.get("/jobs/?job_type=test_fail").json()["results"]] == [str(second.job_id)]
    bad = auth_client.get("/jobs?status=exploded")
    assert bad.status_code == 400 and "status" in bad.json()


def test_jobs_require_authentication(api_client):
    assert api_client.get("/jobs").status_code == 401
