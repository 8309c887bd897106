"""What the operator dashboard shows: per-interval outcomes and times over a window, and live counts.

A fixed number of queries whatever the table's size: the rollup buckets in
the window, the rows finished since the last rollup pass (a range on the
finished-rows index), and the active rows by queue (few); Redis in two
pipelines. `operations/tests/test_dashboard.py` holds it to that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone
from redis.exceptions import RedisError

from common import queues
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from operations.models import JobStatsBucket
from operations.stats import BUCKET, HOUR, SPANS, Aggregate, finished_rows, floor_time, histogram_quantile


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    step: timedelta
    intervals: int


WINDOWS = {
    "1h": Window("1h", "last hour", timedelta(minutes=5), 12),
    "24h": Window("24h", "last day", timedelta(hours=1), 24),
    "7d": Window("7d", "last week", timedelta(hours=6), 28),
}
DEFAULT_WINDOW = "24h"


def _quantiles(aggregate: Aggregate) -> dict:
    return {
        "wait_p50": histogram_quantile(aggregate.wait, 0.5),
        "wait_p95": histogram_quantile(aggregate.wait, 0.95),
        "run_p50": histogram_quantile(aggregate.run, 0.5),
        "run_p95": histogram_quantile(aggregate.run, 0.95),
    }


def dashboard_series(*, window: Window, queue: str = "", job_type: str = "", now: datetime | None = None) -> dict:
    """Per interval and per (queue, job type): completed, failed, wait and run p50/p95 (seconds)."""
    now = now or timezone.now()
    end = floor_time(now, window.step) + window.step
    start = end - window.step * window.intervals
    intervals = [Aggregate() for _ in range(window.intervals)]
    by_type: dict[tuple[str, str], Aggregate] = {}

    def fold(at, key) -> tuple[Aggregate, Aggregate] | None:
        index = int((at - start) / window.step)
        if not 0 <= index < window.intervals:
            return None
        group = by_type.get(key)
        if group is None:
            group = by_type[key] = Aggregate()
        return intervals[index], group

    # Closed hours from the hour buckets when the window's step allows, the
    # rest from five-minute buckets, and what finished since the last pass from the rows.
    marks = JobStatsBucket.objects.aggregate(
        five=Max("start", filter=Q(span=SPANS[BUCKET])), hour=Max("start", filter=Q(span=SPANS[HOUR]))
    )
    fine_from = start
    if window.step >= HOUR and marks["hour"] is not None:
        fine_from = max(start, marks["hour"] + HOUR)
    buckets = JobStatsBucket.objects.filter(
        Q(span=SPANS[HOUR], start__gte=start, start__lt=fine_from) | Q(span=SPANS[BUCKET], start__gte=fine_from)
    )
    if queue:
        buckets = buckets.filter(queue=queue)
    if job_type:
        buckets = buckets.filter(job_type=job_type)
    # Tuples, not model instances: a week is thousands of buckets.
    fields = ("start", "queue", "job_type", "completed", "failed", "wait_histogram", "run_histogram")
    for at, bucket_queue, bucket_type, *figures in buckets.order_by().values_list(*fields):  # sums not needed
        targets = fold(at, (bucket_queue, bucket_type))
        if targets:
            for target in targets:
                target.add_bucket(*figures)

    # Rows finished since the last rollup pass (normally the last minute or two).
    tail_from = max(fine_from, marks["five"] + BUCKET) if marks["five"] is not None else fine_from
    for row_queue, row_type, status, created_at, started_at, completed_at in finished_rows(
        since=tail_from, queue=queue, job_type=job_type
    ):
        targets = fold(completed_at, (row_queue, row_type))
        if targets:
            for target in targets:
                target.add_row(status, created_at, started_at, completed_at)

    return {
        "start": start,
        "end": end,
        "labels": [start + window.step * index for index in range(window.intervals)],
        "intervals": [{"completed": agg.completed, "failed": agg.failed, **_quantiles(agg)} for agg in intervals],
        "by_type": [
            {"queue": key[0], "job_type": key[1], "completed": agg.completed, "failed": agg.failed, **_quantiles(agg)}
            for key, agg in sorted(by_type.items())
        ],
        "totals": {
            "completed": sum(agg.completed for agg in intervals),
            "failed": sum(agg.failed for agg in intervals),
        },
    }


def dashboard_live() -> dict:
    """Per project queue: queued and running rows, RQ's queue length, live workers, paused; the scheduler."""
    from jobs.pausing import paused_queues
    from operations.selectors import redis_health

    active = {name: {"queued": 0, "running": 0} for name in queues.ALL}
    rows = BackgroundJob.objects.filter(status__in=ACTIVE_STATUSES).order_by().values("queue", "status")
    for row in rows.annotate(n=Count("pk")):
        active.setdefault(row["queue"], {"queued": 0, "running": 0})[
            "queued" if row["status"] == JobStatus.QUEUED else "running"
        ] = row["n"]
    redis = redis_health()
    try:
        paused = paused_queues() if redis["redis"] == "ok" else {}
    except RedisError:
        paused = {}
    return {
        "redis": redis["redis"],
        "scheduler": redis.get("scheduler"),
        "workers": redis.get("workers"),
        "queues": [
            {
                "name": name,
                **counts,
                "rq_length": redis.get("queues", {}).get(name),
                "workers": redis.get("workers_by_queue", {}).get(name),
                "paused": paused.get(name),
                "project": name in queues.ALL,
            }
            for name, counts in active.items()
        ],
    }


def dashboard_job_types() -> list[str]:
    """Job types to filter by: every registered task (no query over the rows)."""
    from jobs.registry import all_tasks

    return sorted(spec.job_type for spec in all_tasks())
