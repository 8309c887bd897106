"""The two design measurements of docs/PERFORMANCE.md, in rotating rounds (not part of `make bench`).

1. Fork hand-off: forking ScribesWorker (main process claims and completes the
   row, the horse needs no connection) against the same worker following
   django-rq's rule (close connections before the fork; the horse claims and
   completes on a connection of its own), on no-op jobs and on jobs that make
   one small database write.
2. `phase`: the write mix under ScribesWorker with the status indexed (today's
   schema) against the schema of migration 0004 (a stored generated `phase`
   indexed in place of status, so the claim is a HOT update).

`python -m bench._ab [--quick] [handoff] [phase]` (default: both); each variant runs in every round, the order
rotating, so all see the same drift of a shared machine.
"""

from __future__ import annotations

import sys

PHASE_ON = [
    'DROP INDEX IF EXISTS "bgjob_status_created_idx"',
    'DROP INDEX IF EXISTS "bgjob_user_type_active_idx"',
    "ALTER TABLE jobs_backgroundjob ADD COLUMN phase varchar(16) GENERATED ALWAYS AS "
    "(CASE WHEN status IN ('queued', 'running') THEN 'active' ELSE status END) STORED",
    'CREATE INDEX "bgjob_phase_created_idx" ON jobs_backgroundjob (phase, created_at DESC)',
    "CREATE INDEX \"bgjob_user_type_active_idx\" ON jobs_backgroundjob (user_id, job_type) WHERE phase = 'active'",
]
PHASE_OFF = [
    'DROP INDEX IF EXISTS "bgjob_phase_created_idx"',
    'DROP INDEX IF EXISTS "bgjob_user_type_active_idx"',
    "ALTER TABLE jobs_backgroundjob DROP COLUMN IF EXISTS phase",
    'CREATE INDEX IF NOT EXISTS "bgjob_status_created_idx" ON jobs_backgroundjob (status, created_at DESC)',
    'CREATE INDEX "bgjob_user_type_active_idx" ON jobs_backgroundjob (user_id, job_type) '
    "WHERE status IN ('queued', 'running')",
]


def _schema(statements: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _rotating(variants: dict, n: int, rounds: int) -> dict[str, float]:
    totals = {name: [0, 0.0] for name in variants}
    names = list(variants)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            figures = variants[name](n)
            totals[name][0] += figures["jobs"]
            totals[name][1] += figures["seconds"]
    return {name: jobs / seconds for name, (jobs, seconds) in totals.items()}


def run(quick: bool = False) -> list[str]:
    from bench._setup import require_disposable_redis, setup_django

    drop, where = setup_django("bench_ab")
    try:
        import django_rq
        from django.db import connection as db

        import bench._tasks  # noqa: F401  (registers the tracked tasks)
        from bench._jobs_workers import RoundTrips, _worker_round
        from common import queues
        from jobs.worker import ScribesWorker, warm_up

        queue = django_rq.get_queue(queues.SYSTEM)
        connection = queue.connection
        require_disposable_redis(connection)
        trips = RoundTrips()
        warm_up([queues.SYSTEM])
        n, rounds = (100, 2) if quick else (150, 4)
        lines = [f"where: {where}"]
        if db.vendor != "postgresql":
            return [*lines, "phase: PostgreSQL only"]

        def round_of(tracked: bool, schema: list[str]):
            def run_round(jobs):
                _schema(schema)
                return _worker_round(connection, queue, trips, jobs, ScribesWorker, tracked, "write")

            return run_round

        rates = _rotating(
            {
                "raw": round_of(False, PHASE_OFF),
                "status indexed": round_of(True, PHASE_OFF),
                "phase indexed": round_of(True, PHASE_ON),
            },
            n,
            rounds,
        )
        _schema(PHASE_OFF)
        lines.append(
            f"phase, write mix: raw {rates['raw']:.1f} jobs/s; tracked/raw with status indexed "
            f"{rates['status indexed'] / rates['raw']:.3f}, "
            f"phase indexed {rates['phase indexed'] / rates['raw']:.3f}"
        )
        return lines
    finally:
        drop()


if __name__ == "__main__":
    print("\n".join(run(quick="--quick" in sys.argv)))
