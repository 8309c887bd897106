"""Live jobs: what open event streams cost the web process, how fast it fans events out, cheap polling.

* Per open stream: the web process's resident memory and CPU while idle
  (keep-alives only), with N streams open against none, on one uvicorn worker.
* Fan-out: events per second delivered to K open streams of one job through
  the web process, against K readers of the same Redis Stream with no web
  process between them.
* `/health` p95 with 100 streams open against none (the issue's bound: < 100 ms).
* `GET /jobs/{id}` with a matching `If-None-Match` (304, the row not read)
  against without: queries and p50.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from common import queues

ROOT = Path(__file__).resolve().parent.parent
#: The web process's application (BENCH_LIVE_APP=scribes.asgi:asgi_only_application: every request by the ASGI handler).
APP = os.environ.get("BENCH_LIVE_APP", "scribes.asgi:application")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_env() -> dict:
    from django.db import connection

    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEMANTIC_EMBEDDER": "hashing", "LOG_LEVEL": "WARNING"}
    # One user opens every stream here: the per-user cap is not what these figures measure.
    env["LIVE_STREAMS_PER_USER"] = "100000"
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(connection.settings_dict["NAME"])
    return env


class Server:
    def __init__(self, log_path: Path, **extra_env):
        import subprocess

        from live.tests.liveutils import free_port

        self.port = free_port()
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", APP, "--port", str(self.port)]
            + ["--workers", "1", "--log-level", "warning", "--no-access-log"],
            env={**_server_env(), **extra_env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                asyncio.run(_get(self.port, "/health", {}))
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("uvicorn did not start")

    def stop(self):
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.log.close()


async def _get(port: int, path: str, headers: dict) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{head}\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]), time.perf_counter() - started


async def _open_stream(port: int, path: str, headers: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{head}\r\n".encode())
    await writer.drain()
    first = await reader.readuntil(b"\n\n")  # headers and the first frame
    if b" 200 " not in first.split(b"\r\n", 1)[0]:
        raise SystemExit(f"stream refused: {first[:200]!r}")
    return reader, writer


async def _read_events(reader, count: int) -> None:
    token = b"\nevent: "
    seen, tail = 0, b""
    while seen < count:
        chunk = await reader.read(65536)
        if not chunk:
            raise SystemExit("stream ended early")
        data = tail + chunk
        seen += data.count(token)
        tail = data[-(len(token) - 1) :]  # a token cut in two is counted once, a whole one never twice


async def _streams_cost(port: int, paths: list[str], headers: dict, idle: float) -> dict:
    pid = _SERVER_PID
    await asyncio.sleep(1)
    rss0, cpu0 = _rss_kb(pid), _cpu_seconds(pid)
    await asyncio.sleep(idle)
    cpu_idle_none = (_cpu_seconds(pid) - cpu0) / idle
    opened = await asyncio.gather(*(_open_stream(port, path, headers) for path in paths))
    await asyncio.sleep(2)
    rss1, cpu1 = _rss_kb(pid), _cpu_seconds(pid)
    await asyncio.sleep(idle)
    cpu_idle_open = (_cpu_seconds(pid) - cpu1) / idle
    health_open = [(await _get(port, "/health", {}))[1] for _ in range(50)]
    for _, writer in opened:
        writer.close()
    await asyncio.sleep(2)
    health_none = [(await _get(port, "/health", {}))[1] for _ in range(50)]
    return {
        "streams": len(paths),
        "kb_per_stream": (rss1 - rss0) / len(paths),
        "rss0_mb": rss0 / 1024,
        "cpu_none": cpu_idle_none,
        "cpu_open": cpu_idle_open,
        "health_open": health_open,
        "health_none": health_none,
    }


async def _fan_out(port: int, path: str, headers: dict, key: str, streams: int, count: int) -> dict:
    import redis.asyncio

    from live import events

    opened = await asyncio.gather(*(_open_stream(port, path, headers) for _ in range(streams)))
    publisher = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
    payload = {"event": "progress", "data": '{"status":"running"}'}

    async def publish():
        pipe = publisher.pipeline(transaction=False)
        for _ in range(count):
            pipe.xadd(key, payload)
        await pipe.execute()

    started = time.perf_counter()
    await asyncio.gather(publish(), *(_read_events(reader, count) for reader, _ in opened))
    through_web = time.perf_counter() - started
    for _, writer in opened:
        writer.close()

    # Baseline: the same readers on Redis itself, no web process between.
    last = (await publisher.xrevrange(key, count=1))[0][0]

    async def direct_reader(cursor):
        client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
        seen = 0
        while seen < count:
            reply = await client.xread({key: cursor}, count=100, block=5000)
            for entry_id, fields in reply[0][1]:
                events.entry_frame(entry_id, fields)  # the same per-event work as the view
                cursor = entry_id
                seen += 1
        await client.aclose()

    readers = [asyncio.ensure_future(direct_reader(last)) for _ in range(streams)]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    await asyncio.gather(publish(), *readers)
    direct = time.perf_counter() - started
    await publisher.aclose()
    return {"web": streams * count / through_web, "direct": streams * count / direct}


def _polling(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from bench._setup import percentile, time_alternating
    from jobs.models import BackgroundJob, JobStatus
    from live import events
    from scribes.services import user_token_issue

    user, _ = get_user_model().objects.get_or_create(username="bench-poll")
    token, _ = user_token_issue(user=user)
    job = BackgroundJob.objects.create(job_type="bench", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING)
    events.job_events_publish(rows=[job])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    tag = client.get(f"/jobs/{job.job_id}")["ETag"]
    counts = {}
    for name, headers in (("plain", {}), ("matching", {"HTTP_IF_NONE_MATCH": tag})):
        with CaptureQueriesContext(connection) as captured:
            status = client.get(f"/jobs/{job.job_id}", **headers).status_code
        counts[name] = (len(captured.captured_queries), status)
    if counts["matching"][1] != 304:
        raise SystemExit("If-None-Match did not answer 304")
    plain, matching = time_alternating(
        range(n),
        lambda _: client.get(f"/jobs/{job.job_id}"),
        lambda _: client.get(f"/jobs/{job.job_id}", HTTP_IF_NONE_MATCH=tag),
    )
    return {
        "queries": counts["plain"][0],
        "queries_304": counts["matching"][0],
        "p50": percentile(plain, 0.5),
        "p50_304": percentile(matching, 0.5),
    }


_SERVER_PID = 0


def run(quick: bool = False) -> list[dict]:
    global _SERVER_PID
    import tempfile

    from bench._setup import percentile, require_disposable_redis, setup_django

    drop, where = setup_django("bench_live")
    try:
        import django_rq
        from django.contrib.auth import get_user_model

        from jobs.models import BackgroundJob, JobStatus
        from live import events
        from scribes.services import user_token_issue

        connection = django_rq.get_connection(queues.SYSTEM)
        require_disposable_redis(connection)
        connection.flushdb()
        ms = 1000
        rows = []
        polling = _polling(100 if quick else 500)
        rows.append(
            {
                "benchmark": "live: GET /jobs/{id} with a matching If-None-Match (304) vs without: queries; p50 (ms)",
                "figure": f"{polling['queries_304']} queries; {polling['p50_304'] * ms:.2f}",
                "baseline": f"{polling['queries']} queries; {polling['p50'] * ms:.2f}",
                "ratio": f"{polling['p50_304'] / polling['p50']:.2f}",
                "target": "fewer queries",
            }
        )

        user, _ = get_user_model().objects.get_or_create(username="bench-live")
        headers = {"Authorization": f"Bearer {user_token_issue(user=user)[0]}"}
        count = 40 if quick else 200
        jobs = BackgroundJob.objects.bulk_create(
            BackgroundJob(job_type="bench", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING)
            for _ in range(count)
        )
        events.job_events_publish(rows=jobs)
        log = Path(tempfile.mkdtemp(prefix="scribes-bench-live-")) / "web.log"
        server = Server(log)
        _SERVER_PID = server.process.pid
        try:
            idle = 3 if quick else 10
            paths = [f"/jobs/{job.job_id}/events" for job in jobs]
            cost = asyncio.run(_streams_cost(server.port, paths, headers, idle))
            fan_streams, fan_events = (20, 100) if quick else (100, 500)
            fan = asyncio.run(
                _fan_out(
                    server.port,
                    paths[0],
                    headers,
                    events.events_key(jobs[0].job_id),
                    fan_streams,
                    fan_events,
                )
            )
        finally:
            server.stop()
        rows.append(
            {
                "benchmark": f"live: web memory per open stream ({cost['streams']} streams, 1 uvicorn worker)",
                "figure": f"{cost['kb_per_stream']:.0f} KiB per stream",
                "baseline": f"{cost['rss0_mb']:.0f} MiB with none",
                "ratio": f"{cost['kb_per_stream'] * cost['streams'] / 1024 / cost['rss0_mb']:.2f}",
                "target": "report",
            }
        )
        rows.append(
            {
                "benchmark": f"live: web CPU while idle, {cost['streams']} streams open (keep-alive every 15 s)",
                "figure": f"{cost['cpu_open'] * 100:.2f} % of a core",
                "baseline": f"{cost['cpu_none'] * 100:.2f} % with none",
                "ratio": f"{(cost['cpu_open'] - cost['cpu_none']) * 100:+.2f} points",
                "target": "report",
            }
        )
        health_open, health_none = percentile(cost["health_open"], 0.95), percentile(cost["health_none"], 0.95)
        rows.append(
            {
                "benchmark": f"live: GET /health p95 with {cost['streams']} streams open (ms)",
                "figure": f"{health_open * ms:.1f}",
                "baseline": f"{health_none * ms:.1f} with none",
                "ratio": f"{health_open / health_none:.2f}",
                "target": "< 100 ms",
            }
        )
        rows.append(
            {
                "benchmark": f"live: fan-out, {fan_events} events to {fan_streams} streams of one job (events/s)",
                "figure": f"{fan['web']:.0f} through the web process",
                "baseline": f"{fan['direct']:.0f} read from Redis directly",
                "ratio": f"{fan['web'] / fan['direct']:.2f}",
                "target": "report",
            }
        )
        connection.flushdb()
        for row in rows:
            row["where"] = where
        return rows
    finally:
        drop()


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
