"""Job-core overhead against raw RQ, measured in one run on the same Redis and database.

* Worker throughput: N tracked jobs (row → running → progress → completed) vs.
  N raw RQ jobs of the same body, same worker class: forking ScribesWorker on
  no-op jobs and on jobs that make one small database write (targets: tracked
  ≥ 0.90 × raw), ScribesSimpleWorker on no-op jobs (report). N = 2,000 for the
  simple worker, 1,000 forked (quick: 200).
* Redis per job, ours vs raw (target ≤ raw + 4). Round trips are counted client
  side: `send_packed_command` of redis-py's connection class is wrapped with a
  counter in shared memory, so the forked work-horses count too (a pipeline or
  MULTI/EXEC is one round trip, a blocking dequeue is one). Server-side commands
  (INFO total_commands_processed) are shown beside them.
* Enqueue path: `POST /semantic/regenerate-embeddings` through the DRF test client
  (one request per user: the view would return a user's active job instead of a
  second one), p50/p95 against raw `queue.enqueue`; Redis round trips added by
  `background_job_start` over raw `queue.enqueue` (target ≤ 3).
* Bulk fan-out: `background_job_start_many` (one INSERT, one pipeline) vs. the
  same jobs through `background_job_start` one by one (target ≥ 4×).
* Status polling: GET /jobs/{id} queries (target ≤ 2) and p50, against
  GET /notes?page_size=1 (auth + one list query).
* Scaling: forking workers (1, then 2 processes, forked from a parent that loaded
  the model as `rqworker` does) draining one queue; jobs/s and speed-up.
* Floors: raw jobs that make one database read, or one small UPDATE, against raw
  no-op jobs: what the least possible tracking costs on this machine.

What the figures mean and how they moved: docs/PERFORMANCE.md.

`python -m bench.jobs [--quick]`
"""

from __future__ import annotations

import os
import sys
import time

from scribes import queues


class RoundTrips:
    """Counts Redis round trips in this process and in every process forked from it."""

    def __init__(self):
        import multiprocessing

        import redis.connection

        self.value = multiprocessing.Value("q", 0)
        cls = redis.connection.AbstractConnection
        original = cls.send_packed_command
        counter = self.value

        def counting(self, command, check_health=True):
            with counter.get_lock():
                counter.value += 1
            return original(self, command, check_health)

        cls.send_packed_command = counting

    def __call__(self) -> int:
        return self.value.value


def _commands(connection) -> int:
    return int(connection.info("stats")["total_commands_processed"])


def _measure(connection, trips: RoundTrips):
    """Snapshot (commands, round trips); the INFO call itself is taken out."""
    commands, sent = _commands(connection), trips()
    return commands, sent


def _per_job(connection, trips: RoundTrips, before, n: int) -> tuple[float, float]:
    commands, sent = _measure(connection, trips)
    # Each snapshot adds one INFO (one command, one round trip).
    return (commands - before[0] - 1) / n, (sent - before[1] - 1) / n


def _run_worker(worker_class, queue_name: str) -> float:
    from django.db import connections
    from django_rq import get_worker

    connections.close_all()
    worker = get_worker(queue_name, worker_class=worker_class)
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="ERROR")
    return time.perf_counter() - started


#: The job bodies measured: (label, raw function, tracked job type).
MIXES = {
    "noop": ("no-op jobs", "raw_noop", "bench_noop"),
    "write": ("jobs making one small database write", "raw_one_write", "bench_one_write"),
}
#: The row the write mix updates; kept across rounds.
TARGET_RQ_ID = "bench-target"


def _target() -> str:
    from jobs.models import BackgroundJob

    row, _ = BackgroundJob.objects.get_or_create(
        rq_job_id=TARGET_RQ_ID, defaults={"job_type": "bench_noop", "queue": queues.SYSTEM, "status": "completed"}
    )
    return str(row.job_id)


def _kwargs(mix: str) -> dict:
    return {"target": _target()} if mix == "write" else {}


def _fill_raw(connection, queue, n: int, function=None, **kwargs) -> None:
    """Empty Redis, then n raw jobs of `function` (default: the no-op) with `kwargs`."""
    from bench._tasks import raw_noop

    connection.flushdb()
    queue.enqueue_many([queue.prepare_data(function or raw_noop, kwargs={"n": i, **kwargs}) for i in range(n)])


def _fill_tracked(connection, n: int, job_type: str = "bench_noop", **kwargs) -> None:
    from jobs.models import BackgroundJob
    from jobs.services import background_job_start_many

    connection.flushdb()
    BackgroundJob.objects.exclude(rq_job_id=TARGET_RQ_ID).delete()
    background_job_start_many(job_type=job_type, items=[{"params": {"n": i, **kwargs}} for i in range(n)])


def _check_tracked(n: int) -> None:
    from jobs.models import BackgroundJob

    done = BackgroundJob.objects.filter(status="completed").exclude(rq_job_id=TARGET_RQ_ID).count()
    if done != n:
        raise SystemExit(f"tracked run completed {done}/{n} jobs")


def _worker_round(connection, queue, trips, n: int, worker_class, tracked: bool, mix: str = "noop") -> dict:
    import bench._tasks

    _, raw_name, job_type = MIXES[mix]
    kwargs = _kwargs(mix)
    if tracked:
        _fill_tracked(connection, n, job_type, **kwargs)
    else:
        _fill_raw(connection, queue, n, getattr(bench._tasks, raw_name), **kwargs)
    before = _measure(connection, trips)
    seconds = _run_worker(worker_class, queue.name)
    commands, round_trips = _per_job(connection, trips, before, n)
    if tracked:
        _check_tracked(n)
    return {"jobs": n, "seconds": seconds, "commands": commands, "round_trips": round_trips}


def _floors(connection, queue, n: int, rounds: int, worker_class) -> dict[str, dict[bool, dict]]:
    """Raw no-op jobs against raw jobs that make one database read, then one write, alternating.

    What one round trip, and one small UPDATE, per job cost in the worker loop
    on this machine: the floor under any tracking that writes the row before
    the body.
    """
    from bench._tasks import raw_one_read, raw_one_write

    floors = {}
    for name, function, kwargs in (
        ("read", raw_one_read, {}),
        ("write", raw_one_write, _kwargs("write")),
    ):

        def run_round(jobs: int, with_statement: bool, function=function, kwargs=kwargs) -> dict:
            if with_statement:
                _fill_raw(connection, queue, jobs, function, **kwargs)
            else:
                _fill_raw(connection, queue, jobs)
            return {"jobs": jobs, "seconds": _run_worker(worker_class, queue.name)}

        floors[name] = _interleaved(run_round, n, rounds)
    return floors


def _interleaved(run_round, n: int, rounds: int) -> dict[bool, dict]:
    """n raw and n tracked jobs in `rounds` alternating rounds; totals per kind.

    Load on a shared 2-core machine drifts by ±15% within a minute; alternating
    (raw, tracked), (tracked, raw), ... lets both kinds see the same drift, and
    the rate is all jobs over all seconds of a kind.
    """
    totals = {kind: {"jobs": 0, "seconds": 0.0, "commands": 0.0, "round_trips": 0.0} for kind in (False, True)}
    per_round = max(1, n // rounds)
    for round_no in range(rounds):
        for tracked in (False, True) if round_no % 2 == 0 else (True, False):
            figures = run_round(per_round, tracked)
            total = totals[tracked]
            total["jobs"] += figures["jobs"]
            total["seconds"] += figures["seconds"]
            total["commands"] += figures.get("commands", 0.0) / rounds
            total["round_trips"] += figures.get("round_trips", 0.0) / rounds
    for total in totals.values():
        total["rate"] = total["jobs"] / total["seconds"]
    return totals


def _forked_workers(queue_name: str, processes: int) -> float:
    """Drain the queue with `processes` forking workers in burst mode; wall seconds."""
    from django.db import connections
    from django_rq import get_worker

    connections.close_all()
    started = time.perf_counter()
    pids = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                worker = get_worker(queue_name)
                worker.work(burst=True, with_scheduler=False, logging_level="ERROR")
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    if failed:
        raise SystemExit(f"worker process(es) {failed} failed")
    return time.perf_counter() - started


def _scaling(connection, queue, n: int, rounds: int) -> dict:
    figures = {}
    for processes in (1, 2):

        def run_round(jobs: int, tracked: bool, processes=processes) -> dict:
            if tracked:
                _fill_tracked(connection, jobs)
            else:
                _fill_raw(connection, queue, jobs)
            seconds = _forked_workers(queue.name, processes)
            if tracked:
                _check_tracked(jobs)
            return {"jobs": jobs, "seconds": seconds}

        totals = _interleaved(run_round, n, rounds)
        for tracked in (False, True):
            figures[(processes, tracked)] = totals[tracked]["rate"]
    return figures


def _enqueue(connection, queue, trips, n: int) -> dict:
    from bench._setup import percentile
    from bench._tasks import raw_noop
    from jobs.services import background_job_start

    connection.flushdb()
    queue.enqueue(raw_noop, n=-1)  # connect outside the measurement
    background_job_start(job_type="bench_noop", params={"n": -1})
    raw, ours = [], []
    before = trips()
    for i in range(n):
        started = time.perf_counter()
        queue.enqueue(raw_noop, n=i)
        raw.append(time.perf_counter() - started)
    raw_trips = (trips() - before) / n
    before = trips()
    for i in range(n):
        started = time.perf_counter()
        background_job_start(job_type="bench_noop", params={"n": i})
        ours.append(time.perf_counter() - started)
    our_trips = (trips() - before) / n
    return {
        "raw_p50": percentile(raw, 0.5),
        "raw_p95": percentile(raw, 0.95),
        "our_p50": percentile(ours, 0.5),
        "our_p95": percentile(ours, 0.95),
        "raw_trips": raw_trips,
        "our_trips": our_trips,
    }


def _regenerate_posts(connection, trips, n: int) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from scribes.services import user_token_issue

    connection.flushdb()
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"bench-post-{i}") for i in range(n + 1)])
    tokens = [user_token_issue(user=user)[0] for user in users]
    seconds, sent = [], []
    for i, token in enumerate(tokens):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        before = trips()
        started = time.perf_counter()
        response = client.post("/semantic/regenerate-embeddings", {}, format="json")
        elapsed = time.perf_counter() - started
        if response.status_code != 202 or response.json()["status"] != "queued":
            raise SystemExit(
                f"POST /semantic/regenerate-embeddings answered {response.status_code}: {response.content}"
            )
        if i:  # the first request connects and warms up
            seconds.append(elapsed)
            sent.append(trips() - before)
    return {"p50": percentile(seconds, 0.5), "p95": percentile(seconds, 0.95), "trips": sum(sent) / len(sent)}


def _bulk(connection, trips, n: int) -> dict:
    from jobs.models import BackgroundJob
    from jobs.rqkeys import QUEUE_KEY
    from jobs.services import background_job_start, background_job_start_many

    connection.flushdb()
    BackgroundJob.objects.all().delete()
    before = trips()
    started = time.perf_counter()
    for i in range(n):
        background_job_start(job_type="bench_noop", params={"n": i})
    one_by_one = time.perf_counter() - started
    one_trips = trips() - before
    connection.flushdb()
    BackgroundJob.objects.all().delete()
    before = trips()
    started = time.perf_counter()
    background_job_start_many(job_type="bench_noop", items=[{"params": {"n": i}} for i in range(n)])
    bulk = time.perf_counter() - started
    bulk_trips = trips() - before
    if connection.llen(QUEUE_KEY.format(queues.SYSTEM)) != n or BackgroundJob.objects.count() != n:
        raise SystemExit("bulk fan-out did not create every row and RQ job")
    connection.flushdb()
    return {"one": n / one_by_one, "bulk": n / bulk, "one_trips": one_trips, "bulk_trips": bulk_trips}


def _polling(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from jobs.models import BackgroundJob
    from scribes.services import user_token_issue

    user, _ = get_user_model().objects.get_or_create(username="bench")
    token, _ = user_token_issue(user=user)
    job = BackgroundJob.objects.create(job_type="bench_noop", user=user, queue=queues.SYSTEM, rq_job_id="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
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
        from django.db import connection as db

        import bench._tasks  # noqa: F401  (registers the tracked no-op)
        from jobs.worker import ScribesSimpleWorker, ScribesWorker, warm_up

        queue = django_rq.get_queue(queues.SYSTEM)
        connection = queue.connection
        require_disposable_redis(connection)
        trips = RoundTrips()
        # What `rqworker --purpose system` warms up before it forks horses (no
        # model: the no-op jobs run on the system queue, whose worker never loads it).
        warm_up([queues.SYSTEM])
        n = 200 if quick else 2000
        db_name = "PostgreSQL" if db.vendor == "postgresql" else "SQLite"
        rows = []
        rounds = 2 if quick else 4
        for label, worker_class, mix, jobs, target in (
            ("forking ScribesWorker", ScribesWorker, "noop", n // 2, "≥ 0.90"),
            ("forking ScribesWorker", ScribesWorker, "write", n // 2, "≥ 0.90"),
            ("ScribesSimpleWorker", ScribesSimpleWorker, "noop", n, "report"),
        ):
            totals = _interleaved(
                lambda jobs, tracked, worker_class=worker_class, mix=mix: _worker_round(
                    connection, queue, trips, jobs, worker_class, tracked, mix
                ),
                jobs,
                rounds,
            )
            raw, ours = totals[False], totals[True]
            rows.append(
                {
                    "benchmark": f"jobs: worker throughput, {label}, {jobs} {MIXES[mix][0]}, {db_name} (jobs/s)",
                    "figure": f"{ours['rate']:.0f} tracked",
                    "baseline": f"{raw['rate']:.0f} raw RQ",
                    "ratio": f"{ours['rate'] / raw['rate']:.2f}",
                    "target": target,
                }
            )
            if mix != "noop":
                continue
            rows.append(
                {
                    "benchmark": f"jobs: Redis round trips per job, {label} (server commands)",
                    "figure": f"{ours['round_trips']:.1f} tracked ({ours['commands']:.1f})",
                    "baseline": f"{raw['round_trips']:.1f} raw RQ ({raw['commands']:.1f})",
                    "ratio": f"+{ours['round_trips'] - raw['round_trips']:.1f} "
                    f"(+{ours['commands'] - raw['commands']:.1f})",
                    "target": "≤ raw + 4",
                }
            )
        floors = _floors(connection, queue, n, rounds, ScribesSimpleWorker)
        for name, what in (("read", "one round trip (SELECT 1)"), ("write", "one UPDATE by primary key")):
            floor = floors[name]
            rows.append(
                {
                    "benchmark": f"jobs: floor, raw jobs making {what} each, {db_name}, ScribesSimpleWorker (jobs/s)",
                    "figure": f"{floor[True]['rate']:.0f} with the {name}",
                    "baseline": f"{floor[False]['rate']:.0f} raw RQ",
                    "ratio": f"{floor[True]['rate'] / floor[False]['rate']:.2f}",
                    "target": "report",
                }
            )
        # What the progress interval saves: the same jobs with every progress call written.
        from django.test import override_settings

        with override_settings(JOBS_PROGRESS_INTERVAL_MS=0):
            totals = _interleaved(
                lambda jobs, tracked: _worker_round(connection, queue, trips, jobs, ScribesSimpleWorker, tracked),
                n // 2,
                2,
            )
        rows.append(
            {
                "benchmark": f"jobs: ScribesSimpleWorker, {db_name}, every progress call written (interval 0)",
                "figure": f"{totals[True]['rate']:.0f} tracked",
                "baseline": f"{totals[False]['rate']:.0f} raw RQ",
                "ratio": f"{totals[True]['rate'] / totals[False]['rate']:.2f}",
                "target": "report",
            }
        )
        scaled = _scaling(connection, queue, 200 if quick else 1000, rounds)
        for tracked in (False, True):
            one, two = scaled[(1, tracked)], scaled[(2, tracked)]
            rows.append(
                {
                    "benchmark": f"jobs: scaling, forking workers, {'tracked' if tracked else 'raw RQ'} "
                    f"no-op jobs, 2 processes vs 1 (jobs/s, {os.cpu_count()} CPUs)",
                    "figure": f"{two:.0f} with 2",
                    "baseline": f"{one:.0f} with 1",
                    "ratio": f"{two / one:.2f}×",
                    "target": "report",
                }
            )
        rows.append(
            {
                "benchmark": "jobs: scaling, tracked/raw with 2 worker processes",
                "figure": f"{scaled[(2, True)]:.0f} tracked",
                "baseline": f"{scaled[(2, False)]:.0f} raw RQ",
                "ratio": f"{scaled[(2, True)] / scaled[(2, False)]:.2f}",
                "target": "report",
            }
        )
        posts = _regenerate_posts(connection, trips, 50 if quick else 300)
        enqueue = _enqueue(connection, queue, trips, 100 if quick else 500)
        ms = 1000
        rows.append(
            {
                "benchmark": f"jobs: POST /semantic/regenerate-embeddings, test client, {db_name}, p50 / p95 (ms)",
                "figure": f"{posts['p50'] * ms:.2f} / {posts['p95'] * ms:.2f}",
                "baseline": f"raw queue.enqueue {enqueue['raw_p50'] * ms:.2f} / {enqueue['raw_p95'] * ms:.2f}",
                "ratio": f"{posts['p50'] / enqueue['raw_p50']:.1f}× (p50)",
                "target": "report",
            }
        )
        rows.append(
            {
                "benchmark": "jobs: background_job_start vs queue.enqueue, p50 / p95 (ms)",
                "figure": f"{enqueue['our_p50'] * ms:.2f} / {enqueue['our_p95'] * ms:.2f}",
                "baseline": f"{enqueue['raw_p50'] * ms:.2f} / {enqueue['raw_p95'] * ms:.2f}",
                "ratio": f"{enqueue['our_p50'] / enqueue['raw_p50']:.1f}× (p50)",
                "target": "report",
            }
        )
        rows.append(
            {
                "benchmark": "jobs: Redis round trips per enqueue (POST incl. its throttle counter)",
                "figure": f"{enqueue['our_trips']:.1f} background_job_start ({posts['trips']:.1f} per POST)",
                "baseline": f"{enqueue['raw_trips']:.1f} raw",
                "ratio": f"+{enqueue['our_trips'] - enqueue['raw_trips']:.1f}",
                "target": "≤ +3",
            }
        )
        bulk = _bulk(connection, trips, 100 if quick else 1000)
        rows.append(
            {
                "benchmark": f"jobs: bulk fan-out, background_job_start_many, {db_name} (jobs/s; round trips)",
                "figure": f"{bulk['bulk']:.0f} ({bulk['bulk_trips']} trips)",
                "baseline": f"{bulk['one']:.0f} one by one ({bulk['one_trips']} trips)",
                "ratio": f"{bulk['bulk'] / bulk['one']:.1f}×",
                "target": "≥ 4×",
            }
        )
        polling = _polling(100 if quick else 500)
        rows.append(
            {
                "benchmark": f"jobs: GET /jobs/{{id}}: {polling['queries']} queries, p50 (ms)",
                "figure": f"{polling['p50'] * ms:.2f}",
                "baseline": f"{polling['baseline_p50'] * ms:.2f} (GET /notes?page_size=1)",
                "ratio": f"{polling['p50'] / polling['baseline_p50']:.2f}",
                "target": "≤ 2 queries",
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
