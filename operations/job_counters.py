"""Job outcomes and queue-wait/run-time histograms, counted in Redis when a job finishes.

Counted at the job core's one observer point (`jobs.transitions.observe`), once
the finishing transaction commits: one pipelined round trip per finish, from
whichever process finished the job (a worker on any host, the reconciler, an
operator's action). Every process reads the same hash, so `/metrics` is current
in any web process and needs no worker to fold anything.

Why Redis and not prometheus_client's multiprocess mode: that mode shares files
in one directory of one host, and Scribes' workers run on many hosts; it would
also need every web and worker process to agree on the directory and clean it
on restart. A Redis restart empties the hash; Prometheus reads that as a counter
reset, which `rate()` and `increase()` handle.
"""

from __future__ import annotations

import logging

from django.db import transaction
from redis.exceptions import RedisError

from jobs import transitions
from jobs.models import FINAL_STATUSES, BackgroundJob
from jobs.rqkeys import job_or_probe_connection, probe_connection
from operations.stats import BOUNDS, histogram_bin

logger = logging.getLogger("operations.job_counters")

#: One hash; fields are "outcome|queue|type|status", "wait|queue|type|bin", "wait_sum|queue|type" (and run_*).
KEY = "scribes:metrics:jobs"
#: The transitions that can finish a job.
FINISHING = (transitions.COMPLETE, transitions.FAIL, transitions.CANCEL)


def job_counters_observe(transition: str, rows: list[BackgroundJob]) -> None:
    """The transitions' observer: count each row a transition finished, once its transaction commits."""
    if transition not in FINISHING:
        return
    finished = [row for row in rows if row.status in FINAL_STATUSES]
    if finished:
        transaction.on_commit(lambda: job_counters_add(rows=finished))


def job_counters_add(*, rows: list[BackgroundJob]) -> None:
    """Count finished rows: their outcome, and where known their queue wait and run time. Never raises."""
    try:
        pipe = job_or_probe_connection().pipeline(transaction=False)
        for row in rows:
            group = f"{row.queue}|{row.job_type}"
            pipe.hincrby(KEY, f"outcome|{group}|{row.status}", 1)
            spans = {"wait": (row.created_at, row.started_at), "run": (row.started_at, row.completed_at)}
            for name, (begin, end) in spans.items():
                if begin is None or end is None:
                    continue  # cancelled while queued: it never waited to the end, nor ran
                seconds = (end - begin).total_seconds()
                pipe.hincrby(KEY, f"{name}|{group}|{histogram_bin(seconds)}", 1)
                pipe.hincrbyfloat(KEY, f"{name}_sum|{group}", max(seconds, 0.0))
        pipe.execute()
    except RedisError as exc:  # a lost count, never a failed job
        logger.warning("Could not count %d finished job(s) in /metrics: %s", len(rows), exc)


def job_counters_read() -> dict:
    """From one HGETALL: {"outcomes": {(queue, type, status): n}, "wait"/"run": {(queue, type): {"bins", "sum"}}}."""
    figures: dict = {"outcomes": {}, "wait": {}, "run": {}}
    for raw_field, raw_value in probe_connection().hgetall(KEY).items():
        kind, queue, job_type, *rest = raw_field.decode().split("|")
        if kind == "outcome":
            figures["outcomes"][(queue, job_type, rest[0])] = int(raw_value)
            continue
        name = kind.removesuffix("_sum")
        histogram = figures[name].setdefault((queue, job_type), {"bins": [0] * (len(BOUNDS) + 1), "sum": 0.0})
        if kind == name:
            histogram["bins"][int(rest[0])] = int(raw_value)
        else:
            histogram["sum"] = float(raw_value)
    return figures
