"""Throttling and Idempotency-Key on job-creating POSTs."""

import threading

import pytest
from django.db import connections
from rest_framework.throttling import ScopedRateThrottle

from jobs.models import BackgroundJob


@pytest.fixture
def tight_limits(monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/min", "jobs": "2/min"})


@pytest.mark.django_db
def test_auth_endpoints_are_rate_limited_per_ip_with_retry_after(api_client, tight_limits, user):
    codes = [
        api_client.post("/auth/token", {"username": "alice", "password": "wrong"}, format="json").status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    response = api_client.post("/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"].lower()


@pytest.mark.django_db
@pytest.mark.urls("scribes.tests.idempotency_urls")
def test_same_key_replays_the_same_response(auth_client, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = auth_client.post("/probe", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        again = auth_client.post("/probe", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        other = auth_client.post("/probe", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again["Location"] == first["Location"] and again["Idempotent-Replayed"] == "true"
    assert other.json()["job_id"] != first.json()["job_id"]
    assert BackgroundJob.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.urls("scribes.tests.idempotency_urls")
def test_key_reused_with_another_body_is_422_and_overlong_key_is_400(auth_client, fake_redis):
    assert auth_client.post("/probe", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert auth_client.post("/probe", {"a": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 422
    assert auth_client.post("/probe", {}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300).status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("scribes.tests.idempotency_urls")
def test_ten_concurrent_requests_with_one_key_create_one_job(user, redis_conn):
    from rest_framework.test import APIClient

    from scribes.services import user_token_issue

    token, _ = user_token_issue(user=user)
    results: list = [None] * 10
    barrier = threading.Barrier(10)

    def call(index):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            response = client.post("/probe", {}, format="json", HTTP_IDEMPOTENCY_KEY="burst-1")
            results[index] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert BackgroundJob.objects.count() == 1
    assert {code for code, _ in results} == {202}
    assert len({body["job_id"] for _, body in results}) == 1
