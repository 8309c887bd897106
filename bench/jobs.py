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

import sys

from common import queues


def run(quick: bool = False) -> list[dict]:
    from bench._setup import require_disposable_redis, setup_django

    drop, where = setup_django("bench_jobs")
    try:
        import django_rq
        from django.db import connection as db

        import bench._tasks  # noqa: F401  (registers the tracked no-op)
        from bench._jobs_api import api_rows
        from bench._jobs_workers import RoundTrips, worker_rows
        from jobs.worker import warm_up

        queue = django_rq.get_queue(queues.SYSTEM)
        connection = queue.connection
        require_disposable_redis(connection)
        trips = RoundTrips()
        # What `rqworker --purpose system` warms up before it forks horses (no
        # model: the no-op jobs run on the system queue, whose worker never loads it).
        warm_up([queues.SYSTEM])
        db_name = "PostgreSQL" if db.vendor == "postgresql" else "SQLite"
        rows = worker_rows(connection, queue, trips, quick=quick, db_name=db_name)
        rows += api_rows(connection, queue, trips, quick=quick, db_name=db_name)
        connection.flushdb()
        for row in rows:
            row["where"] = where
        return rows
    finally:
        drop()


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
