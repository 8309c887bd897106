"""Operator console at scale: the dashboard and the job list over 1,000,000 job rows (PostgreSQL only).

Seeds the rows with one `INSERT ... SELECT generate_series` (a month of
history, 3 % failed, a few hundred active), folds them into the dashboard's
rollup once (the backfill a first reconciler pass does), then times full admin
page renders through Django's test client. The baseline is the admin index
page, rendered in the same run.
"""

from __future__ import annotations

import statistics
import sys
import time

from bench._setup import percentile, require_disposable_redis, setup_django

ROWS = 1_000_000
QUICK_ROWS = 100_000
REPEAT = 15

SEED_SQL = """
INSERT INTO jobs_backgroundjob (
    job_id, rq_job_id, job_type, user_id, status, progress_percent, processed_items, total_items,
    params, result_data, error_message, queue, attempts, created_at, started_at, completed_at, updated_at
)
SELECT
    gen_random_uuid(), 'bench-' || i,
    (ARRAY['semantic_regenerate', 'reminder_sweep', 'jobs_reconcile'])[1 + i %% 3],
    CASE WHEN i %% 2 = 0 THEN %(user_id)s END,
    CASE WHEN i <= 200 THEN 'queued' WHEN i <= 300 THEN 'running' WHEN i %% 33 = 0 THEN 'failed' ELSE 'completed' END,
    CASE WHEN i <= 300 THEN 0 ELSE 100 END, 0, 0,
    '{}'::jsonb, NULL, CASE WHEN i %% 33 = 0 THEN 'boom' ELSE '' END, %(queue)s, 1,
    now() - i * %(spread)s * interval '1 second',
    CASE WHEN i <= 200 THEN NULL ELSE now() - i * %(spread)s * interval '1 second' + (i %% 7) * interval '1 second' END,
    CASE WHEN i <= 300 THEN NULL
         ELSE now() - i * %(spread)s * interval '1 second' + (i %% 7 + 1 + i %% 40) * interval '1 second' END,
    now()
FROM generate_series(1, %(rows)s) AS i
"""


#: What the dashboard's last-week view shows, computed straight from the jobs table: per
#: six-hour interval and per (queue, type), outcomes and wait/run p50/p95. The rollups
#: stay only while this misses the target.
DIRECT_WEEK_SQL = """
SELECT date_bin('6 hours', completed_at, now() - interval '7 days') AS bin, queue, job_type,
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)),
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at))
FROM jobs_backgroundjob
WHERE completed_at >= now() - interval '7 days' AND status IN ('completed', 'failed')
GROUP BY 1, 2, 3
"""


def _time_direct_week(cursor) -> list[float]:
    cursor.execute(DIRECT_WEEK_SQL)  # warm the cache
    times = []
    for _ in range(5):
        start = time.perf_counter()
        cursor.execute(DIRECT_WEEK_SQL)
        cursor.fetchall()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _time_get(client, url: str, params: dict | None = None) -> list[float]:
    client.get(url, params or {})  # warm caches and templates
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url, params or {})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times


def run(quick: bool = False) -> list[dict]:
    import os

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("# console benchmark skipped: it needs PostgreSQL (set DATABASE_URL)", file=sys.stderr)
        return [
            {
                "benchmark": "console: skipped on SQLite (set DATABASE_URL to PostgreSQL)",
                "figure": "",
                "baseline": "",
                "ratio": "",
                "target": "",
            }
        ]
    drop, where = setup_django("bench_console")
    try:
        return _run(quick, where)
    finally:
        drop()


def _run(quick: bool, where: str) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from common import queues
    from jobs.rqkeys import rq_connection
    from operations.stats import job_stats_roll_up

    # Pages render as in production (DEBUG off), whose static tags read the manifest
    # that collectstatic writes (the image's build step; into the bench's own var dir).
    call_command("collectstatic", "--noinput", verbosity=0)
    require_disposable_redis(rq_connection())
    rows = QUICK_ROWS if quick else ROWS
    admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-pw-123")
    print(f"# console benchmark on {where}: {rows:,} job rows", file=sys.stderr)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        # A month of history, newest first.
        cursor.execute(SEED_SQL, {"user_id": admin.pk, "queue": queues.SYSTEM, "rows": rows, "spread": 2.6e6 / rows})
        cursor.execute("ANALYZE jobs_backgroundjob")
    seeded = time.perf_counter() - start
    print(f"# seeded in {seeded:.1f} s", file=sys.stderr)
    start = time.perf_counter()
    buckets = job_stats_roll_up()
    backfill = time.perf_counter() - start
    print(f"# rollup backfill: {buckets} buckets in {backfill:.1f} s", file=sys.stderr)

    client = Client()
    client.force_login(admin)
    index = _time_get(client, reverse("admin:index"))
    results = {
        "dashboard, last day": _time_get(
            client, reverse("admin:operations_jobdashboard_changelist"), {"window": "24h"}
        ),
        "dashboard, last week": _time_get(
            client, reverse("admin:operations_jobdashboard_changelist"), {"window": "7d"}
        ),
        "job list, first page": _time_get(client, reverse("admin:jobs_backgroundjob_changelist")),
        "job list, failed": _time_get(client, reverse("admin:jobs_backgroundjob_changelist"), {"status": "failed"}),
    }
    from django.db import connection

    with connection.cursor() as cursor:
        direct = _time_direct_week(cursor)
    base = statistics.median(index)
    out = []
    for name, times in results.items():
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        out.append(
            {
                "benchmark": f"console: {name}, {rows:,} job rows, PostgreSQL, p50 / p95 (ms)",
                "figure": f"{p50:.0f} / {p95:.0f}",
                "baseline": f"admin index {base:.0f}",
                "ratio": f"{p50 / base:.1f}×",
                "target": "≤ 300 ms" if name.startswith("dashboard") else "report",
            }
        )
    week = statistics.median(results["dashboard, last week"])
    out.append(
        {
            "benchmark": f"console: last week's figures aggregated straight from {rows:,} job rows "
            "(one SQL query, no page), PostgreSQL, p50 / p95 (ms)",
            "figure": f"{statistics.median(direct):.0f} / {percentile(direct, 0.95):.0f}",
            "baseline": f"dashboard page from the rollups {week:.0f}",
            "ratio": f"{statistics.median(direct) / week:.1f}×",
            "target": "report (a page needs two: see docs/PERFORMANCE.md)",
        }
    )
    out.append(
        {
            "benchmark": f"console: rollup backfill of {rows:,} rows (first reconciler pass), s",
            "figure": f"{backfill:.1f}",
            "baseline": f"seeding {seeded:.1f}",
            "ratio": f"{backfill / seeded:.1f}",
            "target": "report",
        }
    )
    return out


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
