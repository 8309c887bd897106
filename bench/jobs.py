"""Job-core overhead against raw RQ, measured in one run on the same Redis and database.

* Worker throughput: N tracked no-op jobs (row → running → progress → completed)
  vs. N raw RQ no-op jobs, with the same worker class (forking ScribesWorker and
  SimpleWorker). Target: tracked ≥ 0.80 × raw.
* Redis commands per job (INFO total_commands_processed delta): tracked ≤ raw + 4.
* Enqueue path: `background_job_start` vs. raw `queue.enqueue`, p50/p95, and Redis
  commands added per enqueue (target ≤ 3).
* Status polling: GET /jobs/{id} queries (target ≤ 2) and p50 vs. GET /health-free
  baseline (a bare authenticated request to /jobs?page_size=1).

`python -m bench.jobs [--quick]`
"""

from __future__ import annotations

import sys
import time


def _commands(connection) -> int:
    return int(connection.info("stats")["total_commands_processed"])


def _run_worker(worker_class, queue_name: str) -> float:
    from django.db import connections
    from django_rq import get_worker

    connections.close_all()
    worker = get_worker(queue_name, worker_class=worker_class)
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="ERROR")
    return time.perf_counter() - started


def _raw_round(connection, queue, n: int, worker_class) -> tuple[float, float]:
    from bench.tasks import raw_noop

    connection.flushdb()
    jobs = [queue.prepare_data(raw_noop, kwargs={"n": i}) for i in range(n)]
    queue.enqueue_many(jobs)
    before = _commands(connection)
    seconds = _run_worker(worker_class, queue.name)
    return n / seconds, (_commands(connection) - before) / n


def _tracked_round(connection, queue, n: int, worker_class) -> tuple[float, float]:
    from django.db import transaction

    from jobs.models import BackgroundJob
    from jobs.services import background_job_start

    connection.flushdb()
    BackgroundJob.objects.all().delete()
    with transaction.atomic():  # enqueue after commit, as the API does
        for i in range(n):
            background_job_start(job_type="bench_noop", params={"n": i})
    before = _commands(connection)
    seconds = _run_worker(worker_class, queue.name)
    done = BackgroundJob.objects.filter(status="completed").count()
    if done != n:
        raise SystemExit(f"tracked run completed {done}/{n} jobs")
    return n / seconds, (_commands(connection) - before) / n


def _enqueue_latency(connection, queue, n: int) -> dict:
    from bench._setup import percentile
    from bench.tasks import raw_noop
    from jobs.services import background_job_start

    connection.flushdb()
    raw, ours = [], []
    before = _commands(connection)
    for i in range(n):
        started = time.perf_counter()
        queue.enqueue(raw_noop, n=i)
        raw.append(time.perf_counter() - started)
    raw_commands = (_commands(connection) - before) / n
    before = _commands(connection)
    for i in range(n):
        started = time.perf_counter()
        background_job_start(job_type="bench_noop", params={"n": i})
        ours.append(time.perf_counter() - started)
    our_commands = (_commands(connection) - before) / n
    return {
        "raw_p50": percentile(raw, 0.5),
        "raw_p95": percentile(raw, 0.95),
        "our_p50": percentile(ours, 0.5),
        "our_p95": percentile(ours, 0.95),
        "raw_commands": raw_commands,
        "our_commands": our_commands,
    }


def _polling(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from jobs.models import BackgroundJob

    user, _ = get_user_model().objects.get_or_create(username="bench")
    token, _ = Token.objects.get_or_create(user=user)
    job = BackgroundJob.objects.create(job_type="bench_noop", user=user, queue="scribes", rq_job_id="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/jobs/{job.job_id}").status_code == 200
    queries = len(captured.captured_queries)
    ours, baseline = [], []
    for _ in range(n):
        started = time.perf_counter()
        client.get(f"/jobs/{job.job_id}")
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.get("/notes?page_size=1")
        baseline.append(time.perf_counter() - started)
    return {"queries": queries, "p50": percentile(ours, 0.5), "baseline_p50": percentile(baseline, 0.5)}


def run(quick: bool = False) -> list[dict]:
    from bench._setup import require_disposable_redis, setup_django

    drop, where = setup_django("bench_jobs")
    try:
        import django_rq
        from rq import SimpleWorker

        import bench.tasks  # noqa: F401  (registers the tracked no-op)
        from jobs.worker import ScribesWorker
        from scribes import queues

        queue = django_rq.get_queue(queues.DEFAULT)
        connection = queue.connection
        require_disposable_redis(connection)
        n = 200 if quick else 2000
        rows = []
        for label, worker_class in (("forking ScribesWorker", ScribesWorker), ("SimpleWorker", SimpleWorker)):
            raw_rate, raw_cmds = _raw_round(connection, queue, n, worker_class)
            our_rate, our_cmds = _tracked_round(connection, queue, n, worker_class)
            rows.append(
                {
                    "benchmark": f"worker throughput, {label}, {n} no-op jobs (jobs/s)",
                    "figure": f"{our_rate:.0f} tracked",
                    "baseline": f"{raw_rate:.0f} raw RQ",
                    "ratio": f"{our_rate / raw_rate:.2f}",
                    "target": "≥ 0.80",
                }
            )
            rows.append(
                {
                    "benchmark": f"Redis commands per job, {label}",
                    "figure": f"{our_cmds:.1f} tracked",
                    "baseline": f"{raw_cmds:.1f} raw RQ",
                    "ratio": f"+{our_cmds - raw_cmds:.1f}",
                    "target": "≤ raw + 4",
                }
            )
        enqueue = _enqueue_latency(connection, queue, 100 if quick else 500)
        rows.append(
            {
                "benchmark": "enqueue: background_job_start vs queue.enqueue, p50 / p95 (ms)",
                "figure": f"{enqueue['our_p50'] * 1000:.2f} / {enqueue['our_p95'] * 1000:.2f}",
                "baseline": f"{enqueue['raw_p50'] * 1000:.2f} / {enqueue['raw_p95'] * 1000:.2f}",
                "ratio": f"{enqueue['our_p50'] / enqueue['raw_p50']:.1f}× (p50)",
                "target": "report",
            }
        )
        rows.append(
            {
                "benchmark": "Redis commands added per enqueue",
                "figure": f"{enqueue['our_commands']:.1f}",
                "baseline": f"{enqueue['raw_commands']:.1f} raw",
                "ratio": f"+{enqueue['our_commands'] - enqueue['raw_commands']:.1f}",
                "target": "≤ +3",
            }
        )
        polling = _polling(100 if quick else 500)
        rows.append(
            {
                "benchmark": f"GET /jobs/{{id}}: {polling['queries']} queries, p50 (ms)",
                "figure": f"{polling['p50'] * 1000:.2f}",
                "baseline": f"{polling['baseline_p50'] * 1000:.2f} (GET /notes?page_size=1)",
                "ratio": f"{polling['p50'] / polling['baseline_p50']:.2f}",
                "target": "≤ 2 queries",
            }
        )
        for row in rows:
            row["where"] = where
        return rows
    finally:
        drop()


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
