"""Limits in the app, straight to the Procfile's web process, no nginx in front.

A 1 GiB declared body is refused with 413 before a byte of it is read (nothing
reaches the disk: the process's TMPDIR stays empty), a streamed (chunked) body is
refused once it passes the limit, and a connection whose headers do not arrive
within HTTP_HEADER_TIMEOUT seconds is closed, while /health keeps answering.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from scribes.tests.loadutils import start_procfile_web, web_env
from scribes.tests.test_load import _call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMIT = 1024 * 1024
HEADER_TIMEOUT = 2


@pytest.fixture
def web(subprocess_env, tmp_path, redis_conn):
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = web_env(
        subprocess_env,
        tmp_path / "var",
        TMPDIR=spool,
        REQUEST_MAX_BODY_BYTES=LIMIT,
        HTTP_HEADER_TIMEOUT=HEADER_TIMEOUT,
    )
    base, port, server = start_procfile_web(env, tmp_path / "web.log")
    try:
        yield base, port, spool
    finally:
        server.stop()


def _read_reply(sock: socket.socket, timeout: float = 5) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 60:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _post_head(port: int, extra: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        ("POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra + "\r\n").encode()
    )
    return sock


def test_a_1_gib_declared_body_is_refused_before_it_is_read(web):
    base, port, spool = web
    sock = _post_head(port, "Content-Length: 1073741824\r\n")
    started = time.monotonic()
    reply = _read_reply(sock)  # not a byte of the body sent: the answer comes anyway
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert time.monotonic() - started < 3
    assert b"too large" in reply.lower()
    # Whatever the client sends after the refusal is never stored.
    try:
        for _ in range(16):
            sock.sendall(b"x" * (512 * 1024))
    except OSError:
        pass
    sock.close()
    assert list(spool.iterdir()) == []
    assert _call(base, "/health", "none")[0] == 200


def test_a_streamed_body_is_refused_once_it_passes_the_limit(web):
    base, port, spool = web
    sock = _post_head(port, "Transfer-Encoding: chunked\r\n")
    chunk = b"x" * (256 * 1024)
    sent = 0
    try:
        while sent < 4 * LIMIT:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
    except OSError:
        pass
    reply = _read_reply(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert list(spool.iterdir()) == []


def test_a_body_under_the_limit_is_served_as_before(web, user):
    base, _, _ = web
    status, _, body = _call(base, "/auth/token", "none", "POST", {"username": "alice", "password": "pw-alice-123"})
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, _, body = _call(base, "/notes", token, "POST", {"title": "t", "content": "y" * 90_000})
    assert status == 201, body


def test_headers_that_do_not_arrive_in_time_close_the_connection(web):
    base, port, _ = web
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    slow.sendall(b"GET /health HTTP/1.1\r\n")
    closed_at = None
    for i in range(int(HEADER_TIMEOUT * 4) + 8):
        try:
            slow.sendall(b"X-Slow-%d: 1\r\n" % i)  # a header line every 0.5 s, never the blank line
        except OSError:
            closed_at = time.monotonic() - started
            break
        assert _call(base, "/health", "none")[0] == 200  # others are served meanwhile
        time.sleep(0.5)
    if closed_at is None:
        slow.settimeout(2)
        try:
            closed_at = time.monotonic() - started if slow.recv(1) == b"" else None
        except (ConnectionResetError, TimeoutError):
            closed_at = time.monotonic() - started
    assert closed_at is not None and closed_at < HEADER_TIMEOUT + 2, closed_at
    silent.settimeout(3)
    assert silent.recv(1) == b""  # the one that sent nothing at all is closed too
    silent.close()
    slow.close()
    # A kept-alive connection's next request has the same clock.
    kept = socket.create_connection(("127.0.0.1", port), timeout=10)
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _read_reply(kept).startswith(b"HTTP/1.1 200")
    kept.sendall(b"GET /health HTTP/1.1\r\n")
    kept.settimeout(HEADER_TIMEOUT + 3)
    data = b""
    try:
        while chunk := kept.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    assert b"HTTP/1.1" not in data
    kept.close()
