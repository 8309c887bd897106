"""Worker rows of bench/jobs.py: tracked against raw RQ jobs under each worker class, floors, scaling."""

from __future__ import annotations

import os
import time

from common import queues


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


def _signals_cost(connection, queue, trips, n: int, rounds: int, db_name: str) -> dict:
    """The system worker's tracked jobs with the operator signals (a request id on each job, the
    /metrics counters counted at each finish) against the same jobs without them, alternating."""
    from common.requestid import request_id_var
    from jobs import transitions
    from jobs.worker import ScribesSimpleWorker
    from operations.job_counters import job_counters_observe

    def run_round(jobs: int, with_signals: bool) -> dict:
        if not with_signals:
            transitions.unobserve("job counters")
        token = request_id_var.set("bench-request-id" if with_signals else "")
        try:
            return _worker_round(connection, queue, trips, jobs, ScribesSimpleWorker, True)
        finally:
            request_id_var.reset(token)
            transitions.observe("job counters", job_counters_observe)

    totals = _interleaved(run_round, n, rounds)
    after, before = totals[True], totals[False]
    return {
        "benchmark": f"jobs: ScribesSimpleWorker, {db_name}, tracked no-op jobs with a request id and the /metrics "
        "counters counted at each finish vs without (jobs/s; round trips per job)",
        "figure": f"{after['rate']:.0f} with ({after['round_trips']:.1f})",
        "baseline": f"{before['rate']:.0f} without ({before['round_trips']:.1f})",
        "ratio": f"{after['rate'] / before['rate']:.2f}",
        "target": "report",
    }


def worker_rows(connection, queue, trips: RoundTrips, *, quick: bool, db_name: str) -> list[dict]:
    """Throughput and Redis round trips per worker class and job mix, the floors, the progress interval, scaling."""
    from jobs.worker import ScribesSimpleWorker, ScribesWorker

    n = 200 if quick else 2000
    rounds = 2 if quick else 4
    rows = []
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
                "ratio": f"+{ours['round_trips'] - raw['round_trips']:.1f} (+{ours['commands'] - raw['commands']:.1f})",
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
    rows.append(_signals_cost(connection, queue, trips, n // 2, rounds, db_name))
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
    return rows
