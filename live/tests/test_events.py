"""Live job views on a real Redis: the event stream a transition writes, SSE, ETag/If-None-Match."""

import asyncio
import json
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection as db_connection
from django.test import AsyncClient
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob, JobStatus
from live import events
from scribes.services import user_token_issue

pytestmark = pytest.mark.django_db(transaction=True)


def _job(user, **extra) -> BackgroundJob:
    fields = {"job_type": "test_progress", "queue": queues.SYSTEM, "status": JobStatus.QUEUED, **extra}
    return BackgroundJob.objects.create(user=user, **fields)


def _move(row: BackgroundJob, **values) -> BackgroundJob:
    """A transition as the worker makes it: the row changes, then its event is published."""
    BackgroundJob.objects.filter(pk=row.pk).update(updated_at=timezone.now(), **values)
    row.refresh_from_db()
    events.job_events_publish(rows=[row], progress="processed_items" in values and row.status == "running")
    return row


def _parse(raw: bytes) -> list[dict]:
    """SSE frames → [{"id", "event", "data"}] (comments and `retry:` dropped)."""
    frames = []
    for block in raw.decode().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            fields["data"] = json.loads(fields["data"])
            frames.append(fields)
    return frames


def _headers(user, **extra) -> dict:
    token, _ = user_token_issue(user=user)
    return {"Authorization": f"Bearer {token}", **extra}


async def _read_stream(path: str, headers: dict, *, timeout: float = 10) -> tuple[int, list[dict]]:
    response = await AsyncClient().get(path, headers=headers)
    if not response.streaming:
        return response.status_code, []
    chunks = []

    async def consume():
        async for chunk in response.streaming_content:
            chunks.append(chunk)

    await asyncio.wait_for(consume(), timeout)
    return response.status_code, _parse(b"".join(chunks))


def read_stream(path, headers, **kwargs):
    return asyncio.run(_read_stream(path, headers, **kwargs))


def test_a_transition_appends_the_whole_job_document_to_its_stream(redis_conn, user, settings):
    settings.JOBS_EVENTS_TTL = 120
    row = _job(user)
    _move(row, status=JobStatus.RUNNING, total_items=4)
    _move(row, processed_items=2, progress_percent=50)
    entries = redis_conn.xrange(events.events_key(row.job_id))
    assert [fields[b"event"] for _, fields in entries] == [b"status", b"progress"]
    document = json.loads(entries[-1][1][b"data"])
    assert (document["job_id"], document["status"], document["progress_percent"]) == (str(row.job_id), "running", 50)
    assert 0 < redis_conn.ttl(events.events_key(row.job_id)) <= 120


def test_system_jobs_publish_nothing_and_a_redis_failure_never_raises(redis_conn, user, settings):
    system = _job(None)
    assert events.job_events_publish(rows=[system]) == 0
    assert not redis_conn.exists(events.events_key(system.job_id))
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert events.job_events_publish(rows=[_job(user)]) == 0


def test_stream_sends_the_current_state_then_follows_to_the_final_event(redis_conn, user, settings):
    settings.JOBS_EVENTS_KEEPALIVE_SECONDS = 1
    row = _job(user)
    _move(row, status=JobStatus.RUNNING, total_items=4)

    async def scenario():
        reader = asyncio.ensure_future(_read_stream(f"/jobs/{row.job_id}/events", await sync_to_async(_headers)(user)))
        await asyncio.sleep(0.5)
        for done in (1, 2, 3, 4):
            await sync_to_async(_move)(row, processed_items=done, progress_percent=done * 25)
        await sync_to_async(_move)(row, status=JobStatus.COMPLETED, result_data={"steps": 4})
        return await reader

    status, frames = asyncio.run(scenario())
    assert status == 200
    assert [frame["event"] for frame in frames] == [
        "status",
        "progress",
        "progress",
        "progress",
        "progress",
        "completed",
    ]
    assert [frame["data"]["processed_items"] for frame in frames[1:5]] == [1, 2, 3, 4]
    assert frames[-1]["data"]["result_data"] == {"steps": 4}
    ids = [frame["id"] for frame in frames]
    assert len(set(ids)) == len(ids)


def test_last_event_id_resumes_exactly_after_it_and_a_seen_end_is_204(redis_conn, user):
    row = _job(user)
    _move(row, status=JobStatus.RUNNING, total_items=3)
    for done in (1, 2, 3):
        _move(row, processed_items=done, progress_percent=done * 33)
    _move(row, status=JobStatus.FAILED, error_message="ValueError: boom")
    ids = [entry_id.decode() for entry_id, _ in redis_conn.xrange(events.events_key(row.job_id))]
    path = f"/jobs/{row.job_id}/events"

    status, frames = read_stream(path, _headers(user, **{"Last-Event-ID": ids[1]}))
    assert status == 200
    assert [frame["id"] for frame in frames] == ids[2:]
    assert frames[-1]["event"] == "failed" and frames[-1]["data"]["error_message"] == "ValueError: boom"

    status, frames = read_stream(path, _headers(user))  # no Last-Event-ID: the current (final) state
    assert (status, [frame["id"] for frame in frames]) == (200, [ids[-1]])
    assert read_stream(path, _headers(user, **{"Last-Event-ID": ids[-1]}))[0] == 204


def test_a_finished_job_without_a_stream_is_answered_from_its_row(redis_conn, user):
    row = _job(user, status=JobStatus.COMPLETED, result_data={"n": 1}, progress_percent=100)
    status, frames = read_stream(f"/jobs/{row.job_id}/events", _headers(user))
    assert status == 200
    assert [(frame["event"], frame["data"]["result_data"]) for frame in frames] == [("completed", {"n": 1})]
    assert "id" not in frames[0]


def test_stream_refuses_strangers_bad_ids_and_missing_credentials(redis_conn, user, other_user):
    row = _job(user)
    path = f"/jobs/{row.job_id}/events"
    assert read_stream(path, _headers(other_user))[0] == 404
    assert read_stream(f"/jobs/{uuid.uuid4()}/events", _headers(user))[0] == 404
    assert read_stream("/jobs/not-a-uuid/events", _headers(user))[0] == 404
    assert read_stream(path, _headers(user, **{"Last-Event-ID": "yesterday"}))[0] == 400
    assert read_stream(path, {})[0] == 401
    assert read_stream(path, {"Authorization": "Bearer wrong"})[0] == 401


def test_stream_holds_no_database_connection_and_sends_keep_alives(redis_conn, user, settings):
    settings.JOBS_EVENTS_KEEPALIVE_SECONDS = 1
    row = _job(user)

    async def scenario():
        response = await AsyncClient().get(f"/jobs/{row.job_id}/events", headers=await sync_to_async(_headers)(user))
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        content = response.streaming_content
        chunks = [await anext(content)]
        # The thread that authenticated and read the row holds no connection while the stream waits.
        holds = await sync_to_async(lambda: db_connection.connection is not None)()
        chunks.append(await anext(content))
        await content.aclose()
        return chunks, holds

    (first, second), holds_a_connection = asyncio.run(scenario())
    assert not holds_a_connection
    assert b"event: status" in first and b'"status":"queued"' in first
    assert second == b": keep-alive\n\n"


def test_etag_answers_304_without_reading_the_row(redis_conn, user, auth_client, django_assert_num_queries):
    row = _job(user)
    _move(row, status=JobStatus.RUNNING, total_items=4)
    first = auth_client.get(f"/jobs/{row.job_id}")
    assert first.status_code == 200 and first["ETag"] and first["Retry-After"] == "1"
    with django_assert_num_queries(1):  # the token; not the job
        again = auth_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again["ETag"], again["Retry-After"]) == (304, first["ETag"], "1")
    assert again.content == b""

    _move(row, processed_items=1, progress_percent=25)
    changed = auth_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed.json()["progress_percent"] == 25
    assert changed["ETag"] != first["ETag"]

    _move(row, status=JobStatus.COMPLETED, result_data={})
    final = auth_client.get(f"/jobs/{row.job_id}")
    assert final.status_code == 200 and not final.has_header("Retry-After")
    assert auth_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=final["ETag"]).status_code == 304


def test_another_users_tag_is_never_a_304(redis_conn, user, other_user, auth_client, other_client):
    row = _job(user)
    _move(row, status=JobStatus.RUNNING)
    tag = auth_client.get(f"/jobs/{row.job_id}")["ETag"]
    assert other_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=tag).status_code == 404
    assert other_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH="*").status_code == 404


def test_etag_without_a_stream_comes_from_the_row(redis_conn, user, auth_client):
    row = _job(user, status=JobStatus.COMPLETED)
    tag = auth_client.get(f"/jobs/{row.job_id}")["ETag"]
    assert auth_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=tag).status_code == 304
    BackgroundJob.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    assert auth_client.get(f"/jobs/{row.job_id}", HTTP_IF_NONE_MATCH=tag).status_code == 200


def test_docs_describe_the_stream_its_events_and_an_example(api_client):
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = {path.rstrip("/"): operations for path, operations in schema["paths"].items()}
    stream = paths["/jobs/{job_id}/events"]["get"]
    content = stream["responses"]["200"]["content"]["text/event-stream"]
    example = next(iter(content["examples"].values()))["value"]
    assert "event: progress" in example and "event: completed" in example and "id: " in example
    for name in events.EVENT_NAMES:
        assert f"`{name}`" in stream["description"]
    assert any(parameter["name"] == "Last-Event-ID" for parameter in stream["parameters"])
    assert "304" in paths["/jobs/{job_id}"]["get"]["responses"]
    cancel = paths["/jobs/{job_id}/cancel"]["post"]["responses"]
    assert {"200", "404", "409"} <= set(cancel)


def test_streams_past_the_limit_are_a_503_not_a_broken_stream(redis_conn, user, settings):
    settings.JOBS_EVENTS_MAX_STREAMS = 2
    rows = [_job(user) for _ in range(3)]

    async def scenario():
        headers = await sync_to_async(_headers)(user)
        opened = []
        for row in rows[:2]:
            response = await AsyncClient().get(f"/jobs/{row.job_id}/events", headers=headers)
            content = response.streaming_content
            await anext(content)  # the first frame; the stream now waits in XREAD
            opened.append(asyncio.ensure_future(anext(content)))
        await asyncio.sleep(0.2)
        refused = await AsyncClient().get(f"/jobs/{rows[2].job_id}/events", headers=headers)
        for waiting in opened:
            waiting.cancel()
        return refused

    refused = asyncio.run(scenario())
    assert refused.status_code == 503 and refused["Retry-After"] == "5"
    assert "Too many open event streams" in json.loads(refused.content)["detail"]


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_under_wsgi_the_stream_still_ends_with_the_final_state(redis_conn, user, client, settings):
    # runserver and gunicorn's sync workers: Django buffers the body, which is complete once the job ended.
    settings.JOBS_EVENTS_KEEPALIVE_SECONDS = 1
    row = _job(user)
    _move(row, status=JobStatus.RUNNING, total_items=1)
    _move(row, status=JobStatus.COMPLETED, result_data={"n": 1})
    response = client.get(f"/jobs/{row.job_id}/events", headers=_headers(user))
    frames = _parse(b"".join(response))  # iterating is what a WSGI server does
    assert [frame["event"] for frame in frames] == ["completed"]

    queued = _job(user)
    response = client.get(f"/jobs/{queued.job_id}/events", headers=_headers(user))

    # The buffered body is complete once the job ends: cancel it from another thread meanwhile.
    def cancel():
        _move(queued, status=JobStatus.CANCELLED)
        db_connection.close()  # this thread's own

    canceller = threading.Timer(1.0, cancel)
    canceller.start()
    frames = _parse(b"".join(response))
    canceller.join()
    assert [frame["event"] for frame in frames] == ["status", "cancelled"]
