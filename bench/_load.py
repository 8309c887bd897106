"""`make load`: Locust, headless, against the Procfile's processes on PostgreSQL.

Starts `honcho start -f Procfile` (web, both workers, the scheduler) on a free
port with the throttles opened wide (one address, many users), waits for
/health, runs bench/locustfile.py for --duration with --users, samples the
server's connections to the database meanwhile, and prints requests/s, p50/p95/p99
per endpoint, the error count, the polite refusals (503 + Retry-After) and the
peak of PostgreSQL connections against the pools' total.

    DATABASE_URL=postgres://... make load LOAD_ARGS="--users 64 --duration 60"

The users it registers (load-<hex>) and their notes stay in that database.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base: str, processes: list[subprocess.Popen] = (), timeout: float = 120) -> None:
    """Wait for `base`/health to answer 200; stop early when one of `processes` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a process of the layout exited before {base}/health answered")
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{base}/health did not answer 200 within {timeout:.0f} s")


class ConnectionSampler(threading.Thread):
    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.peak, self.stop = url.split("?", 1)[0], 0, threading.Event()

    def run(self):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                query = (
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                count = conn.execute(query).fetchone()[0]
                self.peak = max(self.peak, count)
                time.sleep(0.5)


def _report(prefix: Path, duration: float) -> int:
    rows = list(csv.DictReader(open(f"{prefix}_stats.csv")))
    print(f"\n{'endpoint':44} {'reqs':>7} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6}")
    errors = 0
    for row in rows:
        name = row["Name"] if row["Type"] else "TOTAL"
        if row["Name"] == "Aggregated":
            name = "TOTAL"
        else:
            name = f"{row['Type']} {row['Name']}".replace("GET GET", "GET").replace("POST POST", "POST")
            name = name.replace("PATCH PATCH", "PATCH")
        failures = int(row["Failure Count"])
        if row["Name"] == "Aggregated":
            errors = failures
        print(
            f"{name[:44]:44} {row['Request Count']:>7} {float(row['Requests/s']):7.1f} {row['50%']:>6} "
            f"{row['95%']:>6} {row['99%']:>6} {failures:>6}"
        )
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--spawn-rate", type=float, default=8)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load after the users started")
    parser.add_argument("--notes-per-user", type=int, default=20)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("make load runs on PostgreSQL: set DATABASE_URL=postgres://...")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    out = ROOT / "var" / "load"
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SEMANTIC_EMBEDDER": os.environ.get("SEMANTIC_EMBEDDER", "hashing"),
        # Every simulated user comes from 127.0.0.1 and searches often: not what the limits are for.
        "THROTTLE_AUTH": "100000/min",
        "THROTTLE_JOBS": "100000/min",
        "THROTTLE_SEARCH": "100000/min",
        "LOAD_NOTES_PER_USER": str(args.notes_per_user),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log = open(out / "processes.log", "w")
    processes = subprocess.Popen(
        ["honcho", "start", "-f", "Procfile", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sampler = ConnectionSampler(url)
    try:
        wait_healthy(base)
        sampler.start()
        ramp = max(1, int(args.users / args.spawn_rate))
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--host",
                base,
                "-u",
                str(args.users),
                "-r",
                str(args.spawn_rate),
                "-t",
                f"{args.duration + ramp}s",
                "--csv",
                str(out / "load"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        elapsed = time.monotonic() - started
    finally:
        sampler.stop.set()
        os.killpg(processes.pid, signal.SIGTERM)
        try:
            processes.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(processes.pid, signal.SIGKILL)
    errors = _report(out / "load", elapsed)
    web = int(os.environ.get("WEB_CONCURRENCY", "1"))
    pool = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
    print(
        f"\n{args.users} users, {elapsed:.0f} s; errors {errors}; PostgreSQL connections in use, peak "
        f"{sampler.peak} (web pool total {web} x {pool} = {web * pool}, plus the workers' and scheduler's); "
        f"full statistics in {out}/"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
