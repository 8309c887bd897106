"""Many clients at once against real web processes on PostgreSQL.

- The Procfile's web process under a burst of 1,000 requests (event streams and
  plain API calls, all connections opened first, then sent at once): no 500, any
  refusal a 503 with Retry-After, another PostgreSQL client connects throughout,
  the server's connections stay within the pool, and the process serves afterwards.
- `manage.py runserver`: 2,000 sequential requests, the server's connection count
  stays bounded (a thread per request borrows from the pool and gives back).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from common import queues
from jobs.models import BackgroundJob, JobStatus
from notes.models import Note
from scribes.services import user_token_issue
from scribes.tests.loadutils import (
    ConnectProbe,
    burst,
    request_bytes,
    server_connections,
    split_env_dsn,
    start_procfile_web,
    start_runserver,
    web_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

POOL_MAX = 8


@pytest.fixture
def postgres(subprocess_env):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: the pool, max_connections and pg_stat_activity")
    return split_env_dsn(subprocess_env["DATABASE_URL"]), connection.settings_dict["NAME"]


def _call(base: str, path: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_burst_of_1000_requests_never_answers_500_nor_starves_the_server(
    postgres, subprocess_env, tmp_path, redis_conn, user
):
    dsn, database = postgres
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
    assert POOL_MAX + 10 < max_connections, f"max_connections={max_connections} is too small for this test"
    token, _ = user_token_issue(user=user)
    notes = [Note.objects.create(user=user, title=f"note {i}", content="words " * 50) for i in range(20)]
    job = BackgroundJob.objects.create(
        user=user, job_type="test_progress", queue=queues.SYSTEM, status=JobStatus.QUEUED
    )
    connection.close()  # the test's own connection is not the web process's

    env = web_env(
        subprocess_env,
        tmp_path / "var",
        DB_POOL_MIN_SIZE=2,
        DB_POOL_MAX_SIZE=POOL_MAX,
        DB_POOL_TIMEOUT=3,
        JOBS_EVENTS_KEEPALIVE_SECONDS=2,
        LIVE_STREAMS_PER_USER=1000,  # one user opens them all: this test is about the pool
    )
    base, port, server = start_procfile_web(env, tmp_path / "web.log")
    probe = ConnectProbe(dsn)
    peak = [0]
    sampling = [True]

    def sample():
        while sampling[0]:
            peak[0] = max(peak[0], server_connections(dsn, database))
            time.sleep(0.1)

    import threading

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        probe.start()
        sampler.start()
        auth = {"Authorization": f"Bearer {token}"}
        requests = []
        for i in range(1000):
            if i % 2:
                requests.append((request_bytes("GET", f"/jobs/{job.job_id}/events", auth), True))
            else:
                requests.append((request_bytes("GET", f"/notes/{notes[i % len(notes)].pk}", auth), False))
        started = time.monotonic()
        replies = asyncio.run(burst(port, requests, hold=3, timeout=45))
        elapsed = time.monotonic() - started
        sampling[0] = False
        sampler.join(timeout=5)
        probe.stop()

        statuses: dict[int, int] = {}
        for reply in replies:
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
        details: dict[str, int] = {}
        for (_, stream), reply in zip(requests, replies, strict=True):
            kind = "stream" if stream else "note"
            key = f"{kind} {reply.status}" + (f" {reply.body[:60]!r}" if reply.status != 200 else "")
            details[key] = details.get(key, 0) + 1
        print(details)
        print(f"burst of 1000 in {elapsed:.1f} s: {statuses}; peak server connections {peak[0]}")
        print(f"the other client connected {probe.successes} times, failed {len(probe.failures)}")
        assert 500 not in statuses, [r for r in replies if r.status == 500][:3]
        assert set(statuses) <= {200, 503}, [r for r in replies if r.status not in (200, 503)][:5]
        for reply in replies:
            if reply.status == 503:
                assert reply.headers.get("retry-after"), reply
                assert reply.headers.get("content-type", "").startswith("application/json"), reply
        assert statuses.get(200, 0) >= 100, statuses  # served, not only refused (about 560 on an idle 2-core VM)
        assert not probe.failures, probe.failures[:3]
        assert probe.successes >= 3
        # The web process's pool, the test's connections and the probe's.
        assert peak[0] <= POOL_MAX + 4, peak[0]

        # Serves normally afterwards.
        assert _call(base, "/health", token)[0] == 200
        status, _, body = _call(base, f"/notes/{notes[0].pk}", token)
        assert status == 200, body
        assert _call(base, "/notes", token, "POST", {"title": "after", "content": "still here"})[0] == 201
    finally:
        sampling[0] = False
        probe.stop()
        server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


def test_runserver_keeps_its_connections_bounded_over_2000_requests(
    postgres, subprocess_env, tmp_path, redis_conn, user
):
    dsn, database = postgres
    token, _ = user_token_issue(user=user)
    connection.close()
    env = web_env(subprocess_env, tmp_path / "var", DEBUG="1", DB_POOL_MAX_SIZE=4, DB_POOL_MIN_SIZE=1)
    base, _, server = start_runserver(env, tmp_path / "runserver.log")
    counts = []
    try:
        for i in range(2000):
            if i % 2:
                status, _, body = _call(base, "/notes", token, "POST", {"title": f"n{i}", "content": "x"})
                assert status == 201, body
            else:
                status, _, body = _call(base, "/notes?page_size=5", token)
                assert status == 200, body
            if i % 200 == 0:
                counts.append(server_connections(dsn, database))
        counts.append(server_connections(dsn, database))
    finally:
        server.stop()
    print(f"server connections to {database} every 200 requests: {counts}")
    # runserver's pool (4) plus its start-up checks' connection and this count's own.
    assert max(counts) <= 4 + 2, counts


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only")
def test_the_web_process_pools_and_workers_keep_theirs(subprocess_env):
    import subprocess
    import sys

    probe = (
        "import django; from django.conf import settings; django.setup(); "
        "d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['OPTIONS'].get('pool'))"
    )
    env = {**subprocess_env, "DB_POOL_MAX_SIZE": "7"}
    asgi = "import scribes.asgi; " + probe
    web = subprocess.run([sys.executable, "-c", asgi], env=env, capture_output=True, text=True)
    worker = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert web.stdout.split("\n")[-2].startswith("0 {"), web.stdout + web.stderr
    assert "'max_size': 7" in web.stdout
    assert worker.stdout.split("\n")[-2].endswith("None"), worker.stdout + worker.stderr
