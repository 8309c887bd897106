"""Job-core overhead against raw RQ, measured in one run on the same Redis and database.

* Worker throughput: N tracked no-op jobs (row → running → progress → completed)
  vs. N raw RQ no-op jobs, same worker class (forking ScribesWorker, ScribesSimpleWorker),
  N = 2,000 (quick: 200). Target: tracked ≥ 0.80 × raw.
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

Profile (pyinstrument, SimpleWorker, 300 tracked no-op jobs, SQLite): before,
tracked/raw = 0.12-0.16 (35 vs 285 jobs/s). Per job, run_tracked spent ~6.9 ms:
`close_old_connections()` closed the SQLite connection every job (CONN_MAX_AGE 0;
closing the last connection checkpoints the WAL) and the next statement paid
the reconnect (1.9 + 0.9 ms); the row load after the conditional UPDATE was a
second statement with a user join (2 ms). Also DEBUG was on in benchmarks
(every query kept). After: healthy SQLite connections are kept (broken ones
still closed), queued → running and the row load are one `UPDATE ... RETURNING`,
the user loads lazily, repeated progress figures are not re-written, and
benchmarks run with DEBUG off: SQLite 241 vs 240 jobs/s (1.0); PostgreSQL
0.29 → 0.42, where the floor is three durable commits per job (running,
progress, completed) against a raw no-op job of ~2.5 ms. On the enqueue side,
django-rq built a new Redis client per `get_queue`, so every enqueue paid a TCP
connect, the 5-command handshake and RQ's INFO probe; the queue's client is now
kept per process (2 round trips per enqueue, as raw RQ).

Second profile (2026-11-29, PostgreSQL; py-spy/pyinstrument plus timers around
each step). Forking worker: raw 55-60 ms per job here, almost all of it fork()
and exit of a process holding torch (a bare fork+exit costs 44 ms on this VM);
tracked added ~28 ms (0.65; 0.60 with 2 processes): the horse opened a new
PostgreSQL connection (5 ms) and ran three ORM statements in a fresh process.
Now the main process, which keeps its connection, claims the row before the fork
and records the completion the horse hands back through a pipe, so a no-op horse
never connects (`jobs.runner.ForkHandoff`): 0.93, and 0.96 with 2 processes.
SimpleWorker: raw 4-6.5 ms per job; the three statements cost 5.2 ms
(RawQuerySet claim 2.3 ms, progress 1.5, completion 1.5): the claim and the
completion are now compiled once (`jobs.hotpath`: 0.64 and 0.80 ms in a tight
loop), commit asynchronously (the completion's WAL flush alone was ~1.3 ms in
the loop; a crash-lost write is repaired by the reconciler from RQ's result), a
recently used connection skips Django's SELECT 1 health check, and progress is
written at most every JOBS_PROGRESS_INTERVAL_MS (a no-op job writes none):
0.37-0.47 → 0.64-0.81 between runs. The floor is two database round trips per
job (claim before the body, completion after), ~1-1.8 ms in the worker loop on
this VM, against a raw job of 4-6.5 ms. Both kinds now run in alternating rounds
(the same machine drifts ±15% within a minute).

Third profile (2026-11-29, session 3, PostgreSQL; timers and CPU clocks around
each step, cProfile with a CPU clock, raw and tracked runs diffed). A Scribes
worker now holds a completion until its next claim and sends both as one
statement (`jobs.runner.CompletionHold`): one statement per tracked job. Rows
"SimpleWorker" now run `ScribesSimpleWorker` for raw and tracked alike: its
heartbeat is one pipeline, so a raw job makes 14.1 Redis round trips instead
of rq.SimpleWorker's 20.1 and runs ~20% faster, which the tracked job must
match. Tracked throughput rose ~15% (rq.SimpleWorker without the hold: 135
jobs/s; ScribesSimpleWorker: 148-187), the ratio stayed 0.61-0.75 between runs.
Why, measured in the same runs: the floor rows are raw jobs that make one
`SELECT 1` (0.88-0.95 of raw) or one small UPDATE by primary key, committed
asynchronously like the claim (0.76-0.85). A tracked job must write its row
before the body (the claim is the guard against running a cancelled row); its
one statement updates two rows whose status is indexed (no HOT update, eight
index entries each) and takes 0.77 ms of server time per job inside the loop
(log_min_duration_statement = 0; p90 1.0 ms) against 0.2-0.4 ms in a tight
loop, and 1.5 ms as the worker sees it. The same claim costs 0.41 ms in a tight
loop from the client, 0.67-0.82 ms after a 3 ms pause, 1.1-1.6 ms between RQ's
Redis calls (cold caches; PostgreSQL's backend competes with Redis for the
second core). Dropping the two redundant indexes (the user FK's, rq_job_id's
LIKE index) changed nothing measurable. Tried and dropped: claiming on a helper thread
while RQ prepares the job (GIL hand-offs: 0.69-0.78) and sending the claim in
psycopg pipeline mode at dequeue time, read when the job starts (0.70-0.75; it
also bypasses Django's cursor and its error wrapping). Measured and not
shipped: the combined statement as a per-connection PREPARE/EXECUTE, +0.03
(0.686 → 0.717, 0.666 → 0.696 in alternating runs); not worth breaking under
pgbouncer's transaction pooling, where a prepared statement lives on another
server connection.

Fourth profile (session 4, PostgreSQL). Method: one process runs raw and
tracked rounds of 500 jobs under each variant in rotating order, 8 times, so
every variant sees the same drift (separate runs of the same code differed by
up to 0.1). CPU clocks per job (worker process; PostgreSQL backends including
reaped ones): a tracked job cost the worker +0.4 ms and PostgreSQL +0.45 ms;
the worker's share was psycopg's client-side binding (Django's default cursor
quotes every value into the SQL text in Python) and PostgreSQL's a parse and
plan of the two-UPDATE statement per job. Tight loop (pgbench, simple
protocol): 0.43 ms per combined statement, 0.27 ms prepared. Now the two hot
statements go through a server-binding cursor, prepared per connection by
psycopg (`jobs.hotpath._cursor`; DATABASE_PREPARED_STATEMENTS turns preparing
off for poolers that cannot keep them). tracked/raw in the rotating runs:
client-side binding 0.69-0.71, server-side binding 0.75-0.77, prepared
0.76-0.78. For scale in the same method: tracking with the statement replaced
by nothing 0.96-0.98, by a `SELECT 1` 0.89-0.92, by one small UPDATE that
PostgreSQL can make HOT 0.78-0.85. Each status change rewrote the row in all
eight indexes; three were redundant (the user FK's, rq_job_id's LIKE index,
(status, started_at)) and the dedupe index now holds active rows only
(migration 0003, every query keeps its index; checked with EXPLAIN on 100,000
rows): +0.02-0.04 in the same rotating runs (0.73-0.76 → 0.77-0.81). Tried
and dropped: sending the claim at dequeue in psycopg pipeline mode and reading
it when the job starts, so that PostgreSQL works while RQ talks to Redis:
0.72-0.75 against 0.75-0.76 without (on two cores PostgreSQL and Redis
compete for the same one). Measured and not shipped: dropping every index
that contains `status` makes both updates HOT, +0.02 more (+0.04 with
fillfactor 80), but the reconciler's scan of active rows every minute, the
admin's status filter and the metrics' failed-in-24-h count rely on one.

Fifth profile (session 5, PostgreSQL; the same rotating runs with worker,
PostgreSQL and Redis CPU clocks per job, py-spy, and tight loops of the
combined statement). Tracking with the statement replaced by nothing scored
0.978: our Python around the statement costs 2%. The statement cost the
worker +0.5 ms of CPU per job and PostgreSQL +0.35 ms. Part of the worker's
share was building a psycopg cursor for every statement (adapters map,
transformer, its dumpers and loaders, the time-zone loader). The hot path now
keeps one server-binding cursor per connection and time zone (`jobs.hotpath.
_kept_cursors`): 0.774 → 0.816 in the same rotating runs, worker CPU −0.12 ms
per job (a third of what the statement costs the worker in the loop; in a
tight loop, where caches stay warm, ~150 → ~130 µs per call). Tried and
dropped: binary results (no text parsing of timestamps and UUIDs): −10 µs in
the tight loop, nothing measurable in the worker loop.
Timed in place, the claim (with the completion it carries) takes 0.6 ms of
wall time per job: 0.27 ms of the worker's CPU and 0.33 ms waiting for
PostgreSQL. perf on the backend: index inserts 17% of its CPU, CHECK
constraints 14% (PostgreSQL parses each constraint's stored expression again
for every execution), TCP 16%, executor start 8.5%, commit 8% (plus 5% waking
the WAL writer, the price of the asynchronous commit). Measured and dropped in
the rotating runs: without the two CHECK constraints +0.008 (noise; they stay);
a Unix socket instead of TCP to 127.0.0.1, no difference; sending the claim
non-blocking at dequeue and reading it when the job starts (libpq's
asynchronous send, not pipeline mode this time) 0.773 against 0.806: with the
overlap, PostgreSQL and Redis each burn more CPU per job on this VM, as the
pipeline attempts of sessions 3 and 4 found. Left: PostgreSQL's ~0.3 ms per
job (EXPLAIN: 0.15 ms of execution, twelve WAL records, nine index entries for
the two rows), which only the schema trade-off above would cut. Its cheapest
form, measured in the same rotating runs (10 × 500 jobs): a stored generated
column `is_active` (status queued or running) indexed in place of status,
so the claim (queued → running) is a HOT update and only the completion
writes index entries: 0.809 → 0.840 (0.828 with fillfactor 80), about half of
all updates HOT. Not shipped: status-specific queries on finished rows (the
admin's "failed" filter and its count, failed in 24 h) would then scan every
finished row of their range, and adding the column rewrites the table (shipped
in another form in session 6, below).

Sixth profile (session 6, PostgreSQL; rotating runs of raw, tracked and a
tracked variant, 12 × 500 jobs each, with worker, PostgreSQL and Redis CPU
clocks; perf_counter timers inside the worker loop; py-spy). Two changes:
1. The claim is a HOT update. The table indexes a stored generated column
   `phase` ("active" for queued and running, else the status) in place of
   status, in (phase, -created_at) and as the dedupe index's predicate, so
   queued → running changes no indexed column; finished statuses keep an
   index of their own, and `jobs.models.status_in()` says every status
   filter through phase (a test EXPLAINs each operator query). Index entries
   per job: 9 → 4. Same code, old indexes against new, per round: 0.725 →
   0.779 and 0.754 → 0.784 (PostgreSQL 0.443 → 0.397 ms of CPU per job).
   Dropping the rq_job_id index as well (the most a partial one could save):
   0.784 → 0.787, noise; kept.
2. Timestamps load through `fromisoformat`. A tracked job cost the worker
   +0.5 ms of CPU per job, all of it user time (system time as raw's). Timed
   inside the loop, the statement's client-side pieces cost four to five
   times what they cost in a tight loop (RQ's own work between jobs leaves
   the caches cold): parameters 43 µs, cursor 21, fetchone 49, row 48. Most
   of fetchone was Django's timestamptz loader, which extends psycopg's
   pure-Python parser (3.4 µs a value in a tight loop, `fromisoformat` 1.0);
   the kept cursor now has a loader that parses with `fromisoformat` and
   falls back to Django's (`jobs.hotpath._iso_tz_loader`): 0.776 → 0.812 and
   0.805 → 0.829 in two runs (worker CPU −0.17 and −0.07 ms per job; py-spy's
   share of fetchone 398 → 126 samples).
`python -m bench jobs` afterwards: 0.81 (254 against 312 jobs/s), above the
write floor of the same run (0.79); the full `make bench` then: 0.82. What is left per job is PostgreSQL's
~0.4 ms for the statement and the client's Django/psycopg layers (row 48 µs,
parameters 43 µs in the loop), each a twin of Django code to replace.

`python -m bench.jobs [--quick]`
"""

from __future__ import annotations

import os
import sys
import time


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


def _fill_raw(connection, queue, n: int, function=None, **kwargs) -> None:
    """Empty Redis, then n raw jobs of `function` (default: the no-op) with `kwargs`."""
    from bench._tasks import raw_noop

    connection.flushdb()
    queue.enqueue_many([queue.prepare_data(function or raw_noop, kwargs={"n": i, **kwargs}) for i in range(n)])


def _fill_tracked(connection, n: int) -> None:
    from jobs.models import BackgroundJob
    from jobs.services import background_job_start_many

    connection.flushdb()
    BackgroundJob.objects.all().delete()
    background_job_start_many(job_type="bench_noop", items=[{"params": {"n": i}} for i in range(n)])


def _check_tracked(n: int) -> None:
    from jobs.models import BackgroundJob

    done = BackgroundJob.objects.filter(status="completed").count()
    if done != n:
        raise SystemExit(f"tracked run completed {done}/{n} jobs")


def _worker_round(connection, queue, trips, n: int, worker_class, tracked: bool) -> dict:
    if tracked:
        _fill_tracked(connection, n)
    else:
        _fill_raw(connection, queue, n)
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
    the body (a tracked job makes one statement per job).
    """
    from bench._tasks import raw_one_read, raw_one_write
    from jobs.models import BackgroundJob

    BackgroundJob.objects.all().delete()
    row = BackgroundJob.objects.create(job_type="bench_noop", queue=queue.name, rq_job_id="floor")
    floors = {}
    for name, function, kwargs in (
        ("read", raw_one_read, {}),
        ("write", raw_one_write, {"job_id": str(row.job_id)}),
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
    if connection.llen("rq:queue:scribes") != n or BackgroundJob.objects.count() != n:
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
    job = BackgroundJob.objects.create(job_type="bench_noop", user=user, queue="scribes", rq_job_id="x")
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
        from scribes import queues

        queue = django_rq.get_queue(queues.DEFAULT)
        connection = queue.connection
        require_disposable_redis(connection)
        trips = RoundTrips()
        # Load the model once, as `rqworker` does before it forks horses; every
        # forking round then pays the same fork cost and no load time.
        warm_up()
        n = 200 if quick else 2000
        db_name = "PostgreSQL" if db.vendor == "postgresql" else "SQLite"
        rows = []
        rounds = 2 if quick else 4
        for label, worker_class in (
            ("forking ScribesWorker", ScribesWorker),
            ("ScribesSimpleWorker", ScribesSimpleWorker),
        ):
            totals = _interleaved(
                lambda jobs, tracked, worker_class=worker_class: _worker_round(
                    connection, queue, trips, jobs, worker_class, tracked
                ),
                n,
                rounds,
            )
            raw, ours = totals[False], totals[True]
            rows.append(
                {
                    "benchmark": f"jobs: worker throughput, {label}, {n} no-op jobs, {db_name} (jobs/s)",
                    "figure": f"{ours['rate']:.0f} tracked",
                    "baseline": f"{raw['rate']:.0f} raw RQ",
                    "ratio": f"{ours['rate'] / raw['rate']:.2f}",
                    "target": "≥ 0.80",
                }
            )
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
                "target": "≥ 0.80",
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
