"""What `make run` starts (the Procfile under honcho) works end to end.

Web, worker and scheduler come up; a job enqueued through the API is processed
by the worker that honcho started; Ctrl-C (SIGINT to the process group) stops
all three.
"""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jobs.tests.utils import wait_for
from scribes.localredis import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _request(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _until_up(predicate):
    """`predicate`, answering None while the server is still starting (refused, half-written)."""

    def attempt():
        try:
            return predicate()
        except (OSError, ValueError):
            return None

    return attempt


def test_procfile_brings_up_web_worker_scheduler_and_processes_an_api_job(redis_conn, subprocess_env, tmp_path):
    port = free_port()
    env = {
        **subprocess_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEBUG": "1",
        "THROTTLE_AUTH": "1000/min",
    }
    log = open(tmp_path / "honcho.log", "w+")
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "-f", "Procfile", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            # One worker per purpose: the system worker and the model worker.
            _until_up(lambda: _request(base, "GET", "/health")[1]["workers"] >= 2),
            timeout=120,
            interval=0.5,
            what="web and a live worker of each purpose",
        )
        # The admin is styled under `make run` too (WhiteNoise, from the apps' directories).
        with urllib.request.urlopen(base + "/static/admin/css/base.css", timeout=10) as response:
            assert response.status == 200 and b"body" in response.read()
        assert _request(base, "POST", "/auth/register", {"username": "runner", "email": "r@example.com",
                                                         "password": "long-enough-pass-42"})[0] == 201  # fmt: skip
        status, body = _request(base, "POST", "/auth/token", {"username": "runner", "password": "long-enough-pass-42"})
        token = body["access_token"]
        for i in range(3):
            assert _request(base, "POST", "/notes", {"title": f"n{i}", "content": "dogs in the park"}, token)[0] == 201
        status, job = _request(base, "POST", "/semantic/regenerate-embeddings", {}, token)
        assert status == 202, job

        def completed():
            state = _request(base, "GET", f"/jobs/{job['job_id']}", token=token)[1]
            return state if state["status"] in ("completed", "failed") else None

        final = wait_for(_until_up(completed), timeout=120, interval=0.5, what="the regenerate job to finish")
        assert final["status"] == "completed", final
        assert final["result_data"]["embeddings_generated"] == 3
    finally:
        os.killpg(honcho.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise
        log.seek(0)
        output = log.read()
    assert "Scribes worker starting up" in output, output[-3000:]
    assert "Periodic job registered" in output
    for name in ("web.1", "system.1", "semantic.1", "scheduler.1"):
        assert f"{name} stopped" in output, output[-3000:]
