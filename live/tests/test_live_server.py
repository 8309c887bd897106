"""Open event streams on a real uvicorn process: 100 at once leave ordinary requests served."""

import socket
import time

import pytest

from common import queues
from jobs.models import BackgroundJob, JobStatus
from live.tests.liveutils import AsgiServer
from scribes.services import user_token_issue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STREAMS = 100


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[round(fraction * (len(ordered) - 1))]


def _open(port: int, path: str, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"stream closed early: {data[:300]!r}")
        data += chunk
    return data


def test_100_open_streams_do_not_block_ordinary_requests(redis_conn, user, subprocess_env, tmp_path):
    token, _ = user_token_issue(user=user)
    jobs = BackgroundJob.objects.bulk_create(
        BackgroundJob(job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.QUEUED)
        for _ in range(STREAMS)
    )
    server = AsgiServer(
        {**subprocess_env, "SEMANTIC_EMBEDDER": "hashing"},
        tmp_path / "web.log",
        # One user holds them all: the per-user cap is not what this measures.
        extra_env={"JOBS_EVENTS_KEEPALIVE_SECONDS": "1", "LIVE_STREAMS_PER_USER": str(STREAMS)},
    )
    streams = []
    try:
        for job in jobs:
            streams.append(_open(server.port, f"/jobs/{job.job_id}/events", token))
        for sock in streams:
            head = _read_until(sock, b'"status":"queued"')
            assert head.startswith(b"HTTP/1.1 200"), head[:200]

        latencies = []
        for _ in range(50):
            started = time.perf_counter()
            status, _ = server.get("/health")
            latencies.append(time.perf_counter() - started)
            assert status in (200, 503)  # answered (503 only names a missing worker/scheduler)

        # Every stream is still open and alive: each gets its keep-alive.
        for sock in streams:
            _read_until(sock, b": keep-alive")
        assert server.alive()
        p95 = percentile(latencies, 0.95) * 1000
        print(f"/health with {STREAMS} streams open: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p95 {p95:.1f} ms")
    finally:
        for sock in streams:
            sock.close()
        server.stop()
