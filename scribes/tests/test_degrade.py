"""Degrade, don't fail: Redis down, keyword search under the search limit, event streams per user.

The throttles fail open without their cache; with Redis stopped the real web
process answers login, search and job creation 2xx or 503, never 500, and
`/health` names Redis. One user's open event streams are capped, and a stream
ends at the keep-alive after its token is revoked.
"""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.throttling import ScopedRateThrottle

from common import queues
from jobs.models import BackgroundJob, JobStatus
from live.tests.liveutils import SseClient
from scribes.localredis import free_port
from scribes.services import user_token_issue
from scribes.tests.loadutils import start_procfile_web, web_env
from scribes.tests.test_load import _call


@pytest.fixture
def closed_port():
    return free_port()  # nothing listens there


@pytest.mark.django_db
def test_throttles_fail_open_when_the_cache_is_down(api_client, user, settings, closed_port, caplog, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "1/min"})
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    codes = [
        api_client.post("/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 200]  # served, unthrottled, while the counters cannot be kept
    assert any("not enforced" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_keyword_search_of_notes_shares_the_search_limit(auth_client, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"search": "3/min"})
    assert [auth_client.get("/notes").status_code for _ in range(5)] == [200] * 5  # listing is not limited
    assert auth_client.get("/notes?search=words").status_code == 200
    assert auth_client.get("/semantic/search?q=words&mode=keyword").status_code == 200
    assert auth_client.get("/notes?search=apples").status_code == 200
    refused = auth_client.get("/notes?search=pears")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert auth_client.get("/semantic/search?q=words&mode=keyword").status_code == 429


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_redis_stopped_login_search_and_jobs_answer_2xx_or_503_never_500(
    subprocess_env, tmp_path, user, closed_port
):
    from django.db import connection

    token, _ = user_token_issue(user=user)
    connection.close()
    env = web_env(subprocess_env, tmp_path / "var", REDIS_URL=f"redis://127.0.0.1:{closed_port}/0")
    base, _, server = start_procfile_web(env, tmp_path / "web.log")
    try:
        status, _, body = _call(base, "/health", token)
        assert status == 503 and json.loads(body)["redis"] != "ok", body
        assert "redis" in " ".join(json.loads(body)["problems"]).lower()
        calls = [
            ("POST", "/auth/token", {"username": "alice", "password": "pw-alice-123"}, {200}),
            ("POST", "/auth/token", {"username": "alice", "password": "wrong"}, {401}),
            ("GET", "/semantic/search?q=anything", None, {200, 503}),
            ("GET", "/semantic/search?q=anything&mode=keyword", None, {200, 503}),
            ("GET", "/notes?search=anything", None, {200}),
            ("POST", "/semantic/regenerate-embeddings", {}, {202, 503}),
            ("POST", "/notes", {"title": "while Redis is down", "content": "kept"}, {201}),
        ]
        for method, path, body, expected in calls:
            status, headers, answer = _call(base, path, token, method, body)
            assert status in expected, (method, path, status, answer)
            if status == 503:
                assert json.loads(answer)["detail"], answer
    finally:
        server.stop()
    assert " 500 " not in server.output(), server.output()[-3000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_event_streams_per_user_are_capped_and_a_revoked_token_ends_its_stream(
    subprocess_env, tmp_path, redis_conn, user, other_user
):
    from django.db import connection

    token, _ = user_token_issue(user=user)
    doomed, _ = user_token_issue(user=user)
    other, _ = user_token_issue(user=other_user)
    mine = BackgroundJob.objects.create(user=user, job_type="test_progress", queue=queues.SYSTEM, status="queued")
    theirs = BackgroundJob.objects.create(
        user=other_user, job_type="test_progress", queue=queues.SYSTEM, status=JobStatus.QUEUED
    )
    connection.close()
    env = web_env(subprocess_env, tmp_path / "var", LIVE_STREAMS_PER_USER=2, JOBS_EVENTS_KEEPALIVE_SECONDS=1)
    _, port, server = start_procfile_web(env, tmp_path / "web.log")
    path = f"/jobs/{mine.job_id}/events"
    streams = []
    try:
        streams.append(SseClient(port, path, {"Authorization": f"Bearer {token}"}))
        streams.append(SseClient(port, path, {"Authorization": f"Bearer {doomed}"}))
        assert [s.status for s in streams] == [200, 200]
        assert streams[0].next_event()["event"] == "status" and streams[1].next_event()["event"] == "status"

        extra = SseClient(port, path, {"Authorization": f"Bearer {token}"})
        assert extra.status == 429 and extra.response.getheader("Retry-After")
        assert "Too many open event streams" in json.loads(extra.response.read())["detail"]
        extra.close()
        # Another user's slots are their own.
        theirs_stream = SseClient(port, f"/jobs/{theirs.job_id}/events", {"Authorization": f"Bearer {other}"})
        assert theirs_stream.status == 200
        theirs_stream.close()

        # Revoke the second stream's token (log out with it): it ends within a keep-alive or two.
        assert _call(f"http://127.0.0.1:{port}", "/auth/logout", doomed, "POST", {})[0] == 204
        streams[1].connection.sock.settimeout(5)
        started = time.monotonic()
        assert streams[1].next_event() is None
        assert time.monotonic() - started < 5
        # Its slot came back: a new stream opens.
        deadline = time.monotonic() + 5
        while True:
            again = SseClient(port, path, {"Authorization": f"Bearer {token}"})
            if again.status == 200 or time.monotonic() > deadline:
                break
            again.close()
            time.sleep(0.2)
        assert again.status == 200
        streams.append(again)
        # The revoked token itself is now a 401.
        refused = SseClient(port, path, {"Authorization": f"Bearer {doomed}"})
        assert refused.status == 401
        refused.close()
        assert streams[0].comments >= 0  # the first stream is still open
    finally:
        for stream in streams:
            stream.close()
        server.stop()
