"""POST /semantic/regenerate-embeddings: 202 + Location, one active job per user, 503 without Redis."""

import django_rq
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from common import queues
from jobs.models import BackgroundJob, JobStatus

pytestmark = pytest.mark.django_db

URL = "/semantic/regenerate-embeddings"


def test_post_creates_a_queued_job_and_enqueues_it(auth_client, user, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(URL, {"only_stale": True}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["job_type"] == "regenerate_embeddings"
    assert response["Location"] == f"/jobs/{body['job_id']}"
    row = BackgroundJob.objects.get(pk=body["job_id"])
    assert row.user == user and row.params == {"only_stale": True}
    rq_jobs = django_rq.get_queue(queues.SEMANTIC_BULK).jobs
    assert [j.id for j in rq_jobs] == [body["job_id"]]
    assert rq_jobs[0].kwargs == {"background_job_id": body["job_id"], "only_stale": True}
    assert auth_client.get(response["Location"]).json()["job_id"] == body["job_id"]


def test_empty_body_means_all_notes_and_slash_is_optional(auth_client, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(URL + "/")
    assert response.status_code == 202
    assert BackgroundJob.objects.get(pk=response.json()["job_id"]).params == {"only_stale": False}


def test_active_job_is_returned_instead_of_a_second(
    auth_client, other_client, fake_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = auth_client.post(URL).json()
        again = auth_client.post(URL, {"only_stale": True}, format="json")
        theirs = other_client.post(URL).json()
    assert again.status_code == 202 and again.json()["job_id"] == first["job_id"]
    assert theirs["job_id"] != first["job_id"]
    assert django_rq.get_queue(queues.SEMANTIC_BULK).count == 2

    BackgroundJob.objects.filter(pk=first["job_id"]).update(status=JobStatus.COMPLETED)
    with django_capture_on_commit_callbacks(execute=True):
        fresh = auth_client.post(URL).json()
    assert fresh["job_id"] != first["job_id"]


def test_bad_body_is_400(auth_client):
    response = auth_client.post(URL, {"only_stale": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "only_stale" in response.json()["detail"]


def test_unauthenticated_is_401(api_client):
    assert api_client.post(URL).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_redis_down_is_503_and_the_row_says_why(auth_client, user, monkeypatch):
    # transaction=True: the enqueue runs at the real commit, inside the request.
    def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(django_rq, "get_queue", refuse)
    response = auth_client.post(URL)
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]
    row = BackgroundJob.objects.get(user=user)
    assert row.status == JobStatus.FAILED and "Redis unavailable" in row.error_message


def test_schema_documents_the_endpoints(auth_client):
    schema = auth_client.get("/schema", HTTP_ACCEPT="application/json").json()
    assert "/semantic/regenerate-embeddings" in str(schema["paths"].keys())
    assert "SearchResponse" in schema["components"]["schemas"]


def test_idempotency_key_replays_the_same_job(auth_client, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = auth_client.post(URL, {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    BackgroundJob.objects.filter(pk=first.json()["job_id"]).update(status=JobStatus.COMPLETED)
    again = auth_client.post(URL, {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"] and again["Location"] == first["Location"]
    assert BackgroundJob.objects.count() == 1
