"""Web front: /health while clients stall (gunicorn as the Dockerfile runs it), and what a hashed token costs a request.

* Stalled clients: p50 of GET /health on the Dockerfile's gunicorn command while
  three times as many requests as it has workers announce a body and never send
  it, against the same server with none stalled. Sync workers would not answer
  at all (the issue measured 31 s, then killed workers).
* Token check: p50 of GET /notes?page_size=1 through the test client with a knox
  Bearer token (one indexed query + SHA-512) against the same request
  authenticated in memory (force_authenticate: no authentication work).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dockerfile_cmd() -> list[str]:
    lines = [line for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(lines[-1][len("CMD ") :])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health_p50(base: str, n: int) -> float:
    from bench._setup import percentile

    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(base + "/health", timeout=30) as response:
            response.read()
        seconds.append(time.perf_counter() - started)
    return percentile(seconds, 0.5) * 1000


def _stalled(quick: bool) -> list[dict]:
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)
    port = _free_port()
    argv = _dockerfile_cmd()
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update({"ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "PYTHONPATH": str(ROOT)})
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            try:
                _health_p50(base, 1)
                break
            except OSError:
                time.sleep(0.2)
        n = 20 if quick else 100
        _health_p50(base, 10)  # warm every worker
        calm = _health_p50(base, n)
        workers = int(argv[argv.index("--workers") + 1])
        for _ in range(workers * 3):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{")
            held.append(sock)
        stalled = _health_p50(base, n)
    finally:
        for sock in held:
            sock.close()
        server.terminate()
        server.wait(timeout=30)
    return [
        {
            "benchmark": f"web: GET /health p50 with {workers * 3} stalled requests, the Dockerfile's gunicorn (ms)",
            "figure": f"{stalled:.2f} stalled",
            "baseline": f"{calm:.2f} none stalled",
            "ratio": round(stalled / calm, 2),
            "target": "answers (≤ 2)",
        }
    ]


def _token(quick: bool) -> list[dict]:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from scribes.services import user_token_issue

    user = get_user_model().objects.create_user(username="bench-web", password="bench-web-password-1")
    token, _ = user_token_issue(user=user)
    bearer, forced = APIClient(), APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    forced.force_authenticate(user)
    n = 200 if quick else 2000
    timings: dict[str, list[float]] = {"bearer": [], "forced": []}
    for i in range(n):
        # Alternate so drift in the machine's load hits both equally.
        for name, client in (
            (("bearer", bearer), ("forced", forced)) if i % 2 else (("forced", forced), ("bearer", bearer))
        ):
            started = time.perf_counter()
            assert client.get("/notes", {"page_size": 1}).status_code == 200
            timings[name].append(time.perf_counter() - started)
    ours, base = percentile(timings["bearer"], 0.5) * 1000, percentile(timings["forced"], 0.5) * 1000
    return [
        {
            "benchmark": "web: GET /notes?page_size=1, knox Bearer token vs no authentication work, p50 (ms)",
            "figure": f"{ours:.2f} token",
            "baseline": f"{base:.2f} force_authenticate",
            "ratio": round(ours / base, 2),
            "target": "report",
        }
    ]


def run(quick: bool = False) -> list[dict]:
    from bench._setup import setup_django

    os.environ.setdefault("SEMANTIC_EMBEDDER", "hashing")
    # Plain HTTP on loopback: measure the views, not the redirect to HTTPS.
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    drop, where = setup_django("bench_web")
    try:
        print(f"bench.web: {where}", file=sys.stderr)
        return _token(quick) + _stalled(quick)
    finally:
        drop()


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
