"""Web topologies under the web-tier mix (Locust), measured in one run, interleaved, behind one nginx.

Layouts (one web process each, same PostgreSQL, Redis, workers and data; nginx as
docker/nginx.conf in front of every one):

* `shipped`: the Procfile's web command (gunicorn, one uvicorn worker, scribes.asgi:
  event streams through Django's ASGI handler, every other request through its
  WSGI handler in a fixed pool of threads).
* `asgi-only`: the same worker with every request through Django's ASGI handler
  (the layout before this measurement).
* `classic`: gunicorn, one threaded WSGI worker (gthread, as many threads as
  WEB_THREADS), persistent connections (CONN_MAX_AGE=60, no pool).
* `split`: the API under that threaded WSGI worker (with the pool) and the event
  streams under a second process (gunicorn + one uvicorn worker), nginx routing
  `/jobs/<id>/events` to it.

Each user has an account prepared beforehand (LOAD_NOTES notes); Locust runs the
mix of bench/locustfile.py for --duration seconds per layout and round, layouts
in turn (the order reversed every other round, so drift hits all alike).
PostgreSQL connections to the database are sampled meanwhile (pg_stat_activity).

    python -m bench.load --users 16 --duration 30 --rounds 2 --layouts shipped,classic,split,asgi-only
    python -m bench.load --users 64 --streams 64 --layouts shipped    # 64 users with event streams open

`make bench` runs `run()`: shipped against classic, 16 users, a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench._load import wait_healthy

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LAYOUTS = ("shipped", "asgi-only", "classic", "split")
#: Endpoints whose p99 the issue bounds (≤ 300 ms at 16 users): all but the searches and the stream.
SEARCHES = ("search", "/events")


def _port() -> int:
    """A free loopback port from a fixed range, away from the ephemeral ports the processes connect from."""
    for _ in range(200):
        port = random.randint(18000, 18999)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 18000-18999")


def _procfile_web() -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return command.split()
    raise SystemExit("Procfile has no web process")


def _bind(argv: list[str], port: int) -> list[str]:
    argv = list(argv)
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return [a for a in argv if a not in ("--access-logfile", "-")]


def _uvicorn_web(app: str, port: int) -> list[str]:
    argv = _bind(_procfile_web(), port)
    argv[1] = app
    return argv


def _gthread_web(port: int, threads: int) -> list[str]:
    return ["gunicorn", "scribes.wsgi:application", "--worker-class", "gthread", "--threads", str(threads)] + [
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60", "--graceful-timeout", "5",
        "--keep-alive", "5",
    ]  # fmt: skip


def layout_processes(name: str, threads: int) -> tuple[list[tuple[list[str], dict]], int, int | None]:
    """(argv and extra environment per process, the API's port, the streams' port or None)."""
    api = _port()
    if name == "shipped":
        return [(_uvicorn_web("scribes.asgi:application", api), {})], api, None
    if name == "asgi-only":
        return [(_uvicorn_web("scribes.asgi:asgi_only_application", api), {})], api, None
    if name == "classic":
        return [(_gthread_web(api, threads), {"DB_POOL": "0", "CONN_MAX_AGE": "60"})], api, None
    if name == "split":
        live = _port()
        return (
            [
                (_gthread_web(api, threads), {"SCRIBES_WSGI": "1"}),
                (_uvicorn_web("scribes.asgi:asgi_only_application", live), {}),
            ],
            api,
            live,
        )
    raise SystemExit(f"unknown layout {name!r}: {', '.join(LAYOUTS)}")


def nginx_conf(directory: Path, port: int, api: int, live: int | None) -> Path:
    """docker/nginx.conf with loopback addresses, one worker, no access log; `live` takes the event streams."""
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    replacements = [
        ("worker_processes auto;", "worker_processes 1;"),
        ("pid /var/run/nginx.pid;", f"pid {directory}/nginx.pid;"),
        ("access_log /dev/stdout;", "access_log off;"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server web:8000;", f"server 127.0.0.1:{api};"),
        ("server live:8000;", f"server 127.0.0.1:{live or api};"),
    ]
    for old, new in replacements:
        conf = conf.replace(old, new)
    if live and "scribes_live" not in conf:
        conf = conf.replace(
            "    server {\n",
            f"    upstream scribes_live {{\n        server 127.0.0.1:{live};\n    }}\n\n    server {{\n",
            1,
        )
        head, events = conf.split("location ~ ^/jobs/", 1)
        events = events.replace("proxy_pass http://scribes_web;", "proxy_pass http://scribes_live;", 1)
        conf = head + "location ~ ^/jobs/" + events
    path = directory / "nginx.conf"
    path.write_text(conf)
    return path


def _group_cpu_seconds(groups: list[int]) -> float:
    """CPU time (user + system) of every live process in these process groups (a layout's web processes)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class ConnectionSampler(threading.Thread):
    """Peak of the PostgreSQL server's connections to `database` (pg_stat_activity), every 0.25 s."""

    def __init__(self, dsn: str, database: str):
        super().__init__(daemon=True)
        self.dsn, self.database, self.peak, self.stop = dsn, database, 0, threading.Event()
        self.web_peak = 0  # those of the web processes (application_name scribes-web)

    def run(self):
        import psycopg

        if self.dsn is None:
            return
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                query = (
                    "SELECT count(*), count(*) FILTER (WHERE application_name = 'scribes-web') "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                )
                every, web = conn.execute(query, [self.database]).fetchone()
                self.peak, self.web_peak = max(self.peak, every), max(self.web_peak, web)
                time.sleep(0.25)


class OpenStreams(threading.Thread):
    """`count` event streams held open (keep-alives only) on jobs that never run, one per account in turn."""

    def __init__(self, port: int, paths_and_tokens: list[tuple[str, str]]):
        super().__init__(daemon=True)
        self.port, self.targets = port, paths_and_tokens
        self.opened, self.refused, self.stop = 0, {}, threading.Event()
        self.ready = threading.Event()

    def run(self):
        asyncio.run(self._hold())

    async def _hold(self):
        writers = []
        for path, token in self.targets:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status == 200:
                self.opened += 1
            else:
                self.refused[status] = self.refused.get(status, 0) + 1
            writers.append(writer)
        self.ready.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.2)
        for writer in writers:
            writer.close()


def _locust(base: str, env: dict, users: int, duration: int, prefix: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless"]
        + ["--host", base, "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--csv", str(prefix)]
        + ["--only-summary", "--loglevel", "WARNING", "--stop-timeout", "12"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


def _read_stats(prefix: Path, output: str) -> dict:
    endpoints, total = {}, {}
    for row in csv.DictReader(open(f"{prefix}_stats.csv")):
        figures = {
            "requests": int(row["Request Count"]),
            "errors": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]),
            "p50": float(row["50%"] or 0),
            "p95": float(row["95%"] or 0),
            "p99": float(row["99%"] or 0),
        }
        if row["Name"] == "Aggregated":
            total = figures
        else:
            endpoints[row["Name"]] = figures
    refused = 0
    for line in output.splitlines():
        if line.startswith("503 with Retry-After"):
            refused = int(line.rsplit(":", 1)[1])
    return {"total": total, "endpoints": endpoints, "refused": refused}


def measure(
    *,
    layouts: list[str],
    users: int,
    duration: int,
    rounds: int,
    notes: int,
    streams: int = 0,
    threads: int = int(os.environ.get("WEB_THREADS", "4")),
    out: Path | None = None,
) -> dict:
    """Run the mix against each layout in turn; {layout: [figures per round]} plus the set-up's facts."""
    from bench._setup import require_disposable_redis, setup_django

    os.environ.setdefault("SEMANTIC_EMBEDDER", "hashing")
    drop, where = setup_django("bench_load")
    workers: list[subprocess.Popen] = []
    out = out or Path(tempfile.mkdtemp(prefix="scribes-bench-load-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        import django_rq
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection

        from common import queues
        from jobs.models import BackgroundJob, JobStatus
        from notes.models import Note
        from scribes.services import user_token_issue

        redis = django_rq.get_connection(queues.SYSTEM)
        require_disposable_redis(redis)
        redis.flushdb()
        accounts, held = [], []
        for i in range(users):
            user = get_user_model().objects.create_user(username=f"load-{i}", password=None)
            rows = Note.objects.bulk_create(
                Note(user=user, title=f"note {n} of {i}", content=_words(60)) for n in range(notes)
            )
            token, _ = user_token_issue(user=user)
            accounts.append({"token": token, "notes": [row.pk for row in rows]})
            if i < streams:
                job = BackgroundJob.objects.create(
                    user=user, job_type="bench", queue=queues.SYSTEM, status=JobStatus.QUEUED
                )
                held.append((f"/jobs/{job.job_id}/events", token))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        database = connection.settings_dict["NAME"]
        # SQLite has no server to count connections on.
        dsn = os.environ["DATABASE_URL"].split("?", 1)[0] if connection.vendor == "postgresql" else None
        connection.close()
        (out / "accounts.json").write_text(json.dumps(accounts))
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "THROTTLE_AUTH": "100000/min",
            "THROTTLE_JOBS": "100000/min",
            "THROTTLE_SEARCH": "100000/min",
            "LOAD_ACCOUNTS": str(out / "accounts.json"),
            "WEB_THREADS": str(threads),
        }
        for purpose in queues.PURPOSES:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "rqworker", "--purpose", purpose],
                    cwd=ROOT,
                    env=env,
                    stdout=open(out / f"worker-{purpose}.log", "w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        results: dict[str, list[dict]] = {name: [] for name in layouts}
        for round_ in range(rounds):
            order = layouts if round_ % 2 == 0 else list(reversed(layouts))
            for name in order:
                results[name].append(
                    _one(
                        name,
                        round_,
                        env=env,
                        users=users,
                        duration=duration,
                        threads=threads,
                        out=out,
                        dsn=dsn,
                        database=database,
                        held=held,
                    )  # fmt: skip
                )
        return {
            "results": results,
            "where": where,
            "pool_max": settings.DB_POOL_MAX_SIZE,
            "workers": len(workers),
            "out": str(out),
        }
    finally:
        for process in workers:
            _stop(process)
        drop()


def _one(name, round_, *, env, users, duration, threads, out, dsn, database, held) -> dict:
    # "shipped@2": the layout with another thread count.
    layout, _, count = name.partition("@")
    threads = int(count or threads)
    env = {**env, "WEB_THREADS": str(threads)}
    processes_spec, api, live = layout_processes(layout, threads)
    directory = out / f"{name}-{round_}"
    directory.mkdir(exist_ok=True)
    port = _port()
    if not Path(NGINX).exists():
        raise SystemExit("nginx is missing: install Debian's nginx-light (`make test` does)")
    processes: list[subprocess.Popen] = []
    nginx = None
    url = env.get("DATABASE_URL", "")
    if dsn:  # the web processes' connections are told apart in pg_stat_activity
        extra_url = {"DATABASE_URL": url + ("&" if "?" in url else "?") + "application_name=scribes-web"}
    else:
        extra_url = {}
    base = f"http://127.0.0.1:{port}"
    sampler = ConnectionSampler(dsn, database)
    holder = None
    try:
        for index, (argv, extra) in enumerate(processes_spec):
            processes.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env={**env, **extra, **extra_url},
                    stdout=open(directory / f"web-{index}.log", "w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        conf = nginx_conf(directory, port, api, live)
        nginx = subprocess.Popen(
            [NGINX, "-c", str(conf), "-e", str(directory / "nginx-error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(directory / "nginx-error.log", "a"), start_new_session=True,
        )  # fmt: skip
        wait_healthy(base, [*processes, nginx], timeout=90)
        for _ in range(20):  # warm every thread's imports and the pool
            urllib.request.urlopen(base + "/health", timeout=10).read()
        sampler.start()
        if held:
            holder = OpenStreams(port, held)
            holder.start()
            holder.ready.wait(60)
        cpu = _group_cpu_seconds([p.pid for p in processes])
        output = _locust(base, env, users, duration, directory / "locust")
        cpu = _group_cpu_seconds([p.pid for p in processes]) - cpu
        figures = _read_stats(directory / "locust", output)
        # The web processes' CPU per request: moved less than throughput by a shared machine's drift.
        figures["cpu_ms_per_request"] = cpu * 1000 / max(1, figures["total"]["requests"])
        (directory / "locust.out").write_text(output)
    finally:
        if holder is not None:
            holder.stop.set()
            holder.join(timeout=10)
        sampler.stop.set()
        if sampler.is_alive():
            sampler.join(timeout=5)
        for process in [nginx, *processes]:
            if process is not None:
                _stop(process)
    figures["peak_connections"] = sampler.peak
    figures["peak_web_connections"] = sampler.web_peak
    figures["processes"] = len(processes)
    if holder is not None:
        figures["streams_open"], figures["streams_refused"] = holder.opened, holder.refused
    total = figures["total"]
    print(
        f"{name:10} round {round_ + 1}: {total['rps']:.1f} req/s, {figures['cpu_ms_per_request']:.2f} ms CPU/request, "
        f"p50 {total['p50']:.0f} p95 {total['p95']:.0f} "
        f"p99 {total['p99']:.0f} ms, errors {total['errors']}, 503s {figures['refused']}, "
        f"peak PostgreSQL connections {sampler.peak} (web {sampler.web_peak})",
        file=sys.stderr,
        flush=True,
    )
    return figures


WORDS = (
    "meeting budget garden travel recipe invoice project deadline python database music "
    "holiday report family doctor flight review lecture notes ideas coffee"
).split()


def _words(n: int) -> str:
    return " ".join(random.choice(WORDS) for _ in range(n))


def summary(rounds: list[dict]) -> dict:
    """All rounds of one layout: requests/s over all, the rounds' median p50/p95/p99 per endpoint, errors summed."""
    import statistics

    rps = sum(r["total"]["rps"] for r in rounds) / len(rounds)
    cpu = sum(r["cpu_ms_per_request"] for r in rounds) / len(rounds)
    names = sorted({name for r in rounds for name in r["endpoints"]})
    endpoints = {}
    for name in names:
        runs = [r["endpoints"][name] for r in rounds if name in r["endpoints"]]
        endpoints[name] = {key: statistics.median(run[key] for run in runs) for key in ("p50", "p95", "p99")} | {
            "requests": sum(run["requests"] for run in runs),
            "errors": sum(run["errors"] for run in runs),
        }
    return {
        "rps": rps,
        "cpu_ms_per_request": cpu,
        "errors": sum(r["total"]["errors"] for r in rounds),
        "refused": sum(r["refused"] for r in rounds),
        "peak_connections": max(r["peak_connections"] for r in rounds),
        "peak_web_connections": max(r.get("peak_web_connections", 0) for r in rounds),
        "endpoints": endpoints,
        "p99_api": max((e["p99"] for n, e in endpoints.items() if not any(s in n for s in SEARCHES)), default=0.0),
    }


def print_report(measured: dict) -> None:
    summaries = {name: summary(rounds) for name, rounds in measured["results"].items()}
    base = summaries.get("classic")
    for name, s in summaries.items():
        ratio = (
            f" ({s['rps'] / base['rps']:.2f} of classic; CPU per request "
            f"{s['cpu_ms_per_request']:.2f} ms, "
            f"{s['cpu_ms_per_request'] / base['cpu_ms_per_request']:.2f} of classic's)"
            if base and name != "classic"
            else f" (CPU per request {s['cpu_ms_per_request']:.2f} ms)"
        )
        print(
            f"\n{name}: {s['rps']:.1f} requests/s{ratio}, errors {s['errors']}, 503 + Retry-After {s['refused']}, "
            f"p99 of the non-search endpoints {s['p99_api']:.0f} ms, "
            f"peak PostgreSQL connections {s['peak_connections']} (web processes {s['peak_web_connections']})"
        )
        print(f"  {'endpoint':40} {'reqs':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6}")
        for endpoint, e in s["endpoints"].items():
            print(
                f"  {endpoint[:40]:40} {e['requests']:>6} {e['p50']:>6.0f} {e['p95']:>6.0f} {e['p99']:>6.0f} "
                f"{e['errors']:>6}"
            )
        for index, r in enumerate(measured["results"][name]):
            print(f"  round {index + 1}: {r['total']['rps']:.1f} requests/s" + (
                f", streams open {r['streams_open']}, refused {r['streams_refused']}" if "streams_open" in r else ""
            ))  # fmt: skip


def _round_ratios(measured: dict) -> str:
    """Shipped against classic in each round (they ran back to back): the spread behind the mean."""
    pairs = zip(measured["results"]["shipped"], measured["results"]["classic"], strict=True)
    ratios = sorted(s["total"]["rps"] / c["total"]["rps"] for s, c in pairs)
    return f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if len(ratios) > 1 else f"{ratios[0]:.2f}"


def run(quick: bool = False) -> list[dict]:
    """`make bench`: the shipped layout against the classic deployment, 16 users, interleaved."""
    # Rounds of 30 s: on this shared 2-core machine one round's requests/s drifts by ±15 %.
    users, duration, rounds = (8, 8, 1) if quick else (16, 30, 4)
    measured = measure(
        layouts=["shipped", "classic"], users=users, duration=duration, rounds=rounds, notes=20 if quick else 100
    )
    print_report(measured)
    shipped, classic = summary(measured["results"]["shipped"]), summary(measured["results"]["classic"])

    def per_endpoint(s: dict) -> str:
        return "; ".join(f"{name} {e['p50']:.0f}/{e['p95']:.0f}/{e['p99']:.0f}" for name, e in s["endpoints"].items())

    setting = f"{users} users, {rounds} x {duration} s each, interleaved, behind nginx"
    return [
        {
            "benchmark": f"load: the mix, {setting}: shipped web process vs classic threaded WSGI (requests/s)",
            "figure": f"{shipped['rps']:.1f} shipped",
            "baseline": f"{classic['rps']:.1f} classic",
            "ratio": f"{shipped['rps'] / classic['rps']:.2f} (rounds {_round_ratios(measured)})",
            "target": "≥ 1.0",
        },
        {
            "benchmark": f"load: the mix, {setting}: the web process's CPU per request, shipped vs classic (ms)",
            "figure": f"{shipped['cpu_ms_per_request']:.2f} shipped",
            "baseline": f"{classic['cpu_ms_per_request']:.2f} classic",
            "ratio": f"{shipped['cpu_ms_per_request'] / classic['cpu_ms_per_request']:.2f}",
            "target": "report",
        },
        {
            "benchmark": f"load: the mix, {setting}: errors; p99 of the non-search endpoints (ms)",
            "figure": f"{shipped['errors']} errors ({shipped['refused']} 503s apart); {shipped['p99_api']:.0f}",
            "baseline": f"{classic['errors']} errors; {classic['p99_api']:.0f} classic",
            "ratio": f"{shipped['p99_api'] / max(classic['p99_api'], 1):.2f}",
            "target": "0 errors; ≤ 300 ms",
        },
        {
            "benchmark": f"load: the mix, {setting}: p50/p95/p99 per endpoint, shipped (ms)",
            "figure": per_endpoint(shipped),
            "baseline": "–",
            "ratio": "–",
            "target": "report",
        },
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="shipped,classic")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--notes", type=int, default=100, help="notes per user, made beforehand")
    parser.add_argument("--streams", type=int, default=0, help="event streams held open throughout (one per user)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")), help="request threads")
    args = parser.parse_args()
    measured = measure(
        layouts=args.layouts.split(","), users=args.users, duration=args.duration, rounds=args.rounds,
        notes=args.notes, streams=args.streams, threads=args.threads,
    )  # fmt: skip
    print(f"\n{measured['where']}; DB_POOL_MAX_SIZE={measured['pool_max']}; figures in {measured['out']}")
    print_report(measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
