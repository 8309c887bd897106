"""The web process's two doors (scribes/asgi.py): streams by Django's ASGI handler, the API by a pool of threads.

Real processes: the Procfile's web command alone (what `make run` serves on one
URL) and behind docker/nginx.conf (what compose runs). A stream delivers its
frames as they are written (a WSGI handler would hold them until the stream
ends) while the API answers on the same port; bodies that stall mid-way hold no
request thread.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from asgiref.sync import iscoroutinefunction
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from common import queues
from jobs.models import BackgroundJob, JobStatus
from live.tests.liveutils import SseClient
from scribes.services import user_token_issue
from scribes.tests.loadutils import start_procfile_web, web_env
from scribes.tests.test_load import _call
from scribes.tests.test_production import start_nginx


def _callbacks(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _callbacks(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern


def test_only_the_event_stream_goes_to_the_asgi_handler(monkeypatch):
    # Importing the entry point marks this process as the web process (SCRIBES_ASGI); monkeypatch
    # takes the mark away again, so later tests' child processes do not inherit it.
    monkeypatch.setenv("SCRIBES_ASGI", "1")
    from scribes.asgi import STREAM_PATH

    # The one async view: a new one needs its path in STREAM_PATH (a thread of the pool would block on it).
    asynchronous = [p for p in _callbacks(get_resolver().url_patterns) if iscoroutinefunction(p.callback)]
    assert [str(p.pattern) for p in asynchronous] == ["^jobs/(?P<job_id>[^/]+)/events/?$"], asynchronous
    job = "4f9c1e2a-0b7d-4c55-9a43-1d2e3f4a5b6c"
    for path in (f"/jobs/{job}/events", f"/jobs/{job}/events/", f"/jobs/{job}", "/jobs", "/notes/1", "/health"):
        streamed = iscoroutinefunction(resolve(path).func)
        assert bool(STREAM_PATH.match(path)) == streamed, path
    assert not STREAM_PATH.match(f"/jobs/{job}/events/more")


@pytest.fixture
def stream_setup(user):
    from django.db import connection

    token, _ = user_token_issue(user=user)
    job = BackgroundJob.objects.create(
        user=user, job_type="test_progress", queue=queues.SYSTEM, status=JobStatus.QUEUED
    )
    connection.close()
    return token, job


def _stream_is_live_while_the_api_answers(port: int, token: str, job) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    stream = SseClient(port, f"/jobs/{job.job_id}/events", auth, timeout=10)
    try:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert stream.next_event()["event"] == "status"
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        for i in range(2):
            # The API on the same port, while the stream is open.
            status, _, body = _call(base, "/notes", token, "POST", {"title": f"beside {i}", "content": "a stream"})
            assert status == 201, body
            assert _call(base, "/notes?page_size=5", token)[0] == 200
            # A keep-alive (every second here) arrives while the stream stays open: frames are sent as written.
            seen = stream.comments
            while stream.comments == seen:
                line = stream.response.readline()
                assert line, "the stream ended"
                if line.startswith(b":"):
                    stream.comments += 1
        assert time.monotonic() - started < 8
    finally:
        stream.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_procfile_web_process_serves_streams_live_and_the_api_on_one_port(
    subprocess_env, tmp_path, redis_conn, stream_setup
):
    token, job = stream_setup
    env = web_env(subprocess_env, tmp_path / "var", JOBS_EVENTS_KEEPALIVE_SECONDS=1)
    _, port, server = start_procfile_web(env, tmp_path / "web.log")
    try:
        _stream_is_live_while_the_api_answers(port, token, job)
    finally:
        server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_behind_the_compose_proxy_streams_stay_live_and_the_api_answers(
    subprocess_env, tmp_path, redis_conn, stream_setup
):
    token, job = stream_setup
    env = web_env(subprocess_env, tmp_path / "var", JOBS_EVENTS_KEEPALIVE_SECONDS=1, NUM_PROXIES=1)
    _, app_port, server = start_procfile_web(env, tmp_path / "web.log")
    try:
        base, nginx = start_nginx(app_port, tmp_path)
        try:
            _stream_is_live_while_the_api_answers(int(base.rsplit(":", 1)[1]), token, job)
        finally:
            nginx.stop()
    finally:
        server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


def _serves_at_once(base: str, token: str, *, write: bool = False) -> None:
    """Beside the connections a test holds: the API (a note written, when `write`) and /health answer within 5 s."""
    started = time.monotonic()
    if write:
        status, _, body = _call(base, "/notes", token, "POST", {"title": "served", "content": "beside them"})
        assert status == 201, body
    assert _call(base, "/notes?page_size=1", token)[0] == 200
    assert json.loads(_call(base, "/health", token)[2])["database"] == "ok"
    assert time.monotonic() - started < 5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_bodies_stalled_mid_way_hold_no_request_thread(subprocess_env, tmp_path, redis_conn, user):
    from django.db import connection

    token, _ = user_token_issue(user=user)
    connection.close()
    threads = 2
    env = web_env(subprocess_env, tmp_path / "var", WEB_THREADS=threads)
    base, port, server = start_procfile_web(env, tmp_path / "web.log")
    held = []
    try:
        for _ in range(threads * 4):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(
                b"POST /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {token}\r\nContent-Length: 100000\r\n\r\n".encode()
                + b'{"title": "never finished", "content": "'
            )
            held.append(sock)
        time.sleep(0.5)
        _serves_at_once(base, token, write=True)
    finally:
        for sock in held:
            sock.close()
        server.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_slow_readers_of_api_answers_hold_no_request_thread(subprocess_env, tmp_path, redis_conn, user):
    """An API answer goes to the event loop whole (scribes/wsgipool.py): a client that never reads holds no thread."""
    import base64
    import os

    from django.db import connection

    from notes.models import Note

    token, _ = user_token_issue(user=user)
    # Larger than what the kernel buffers on both sides of a loopback connection with a small receive window.
    Note.objects.bulk_create(
        Note(user=user, title=f"large {i}", content=base64.b64encode(os.urandom(75_000)).decode()) for i in range(80)
    )  # 8 MB on one page
    connection.close()
    env = web_env(subprocess_env, tmp_path / "var", WEB_THREADS=1)
    base, port, server = start_procfile_web(env, tmp_path / "web.log")
    held = []
    try:
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            sock.sendall(
                f"GET /notes?page_size=80 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            held.append(sock)
        assert held[0].recv(12) == b"HTTP/1.1 200"  # answered, and then never read further
        time.sleep(1)
        _serves_at_once(base, token)
    finally:
        for sock in held:
            sock.close()
        server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]
