"""The dashboard's rollup: finished jobs folded into five-minute buckets of counts and time histograms.

Aggregating a week of a million rows per page view is too slow; the
reconciler's minute pass folds the minutes that just closed into
`JobStatsBucket` rows (a range scan on the finished-rows index), and the
dashboard reads at most a week of buckets plus the few rows finished since
the last pass. Each pass recomputes whole buckets and replaces them, so a
pass that runs twice, or late, counts nothing twice.
"""

from __future__ import annotations

import bisect
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from jobs.models import BackgroundJob, JobStatus
from operations.models import JobStatsBucket

logger = logging.getLogger("operations.stats")

BUCKET = timedelta(minutes=5)
#: Closed hours are folded again into hour buckets: a week is then 168 rows per type, not 2016.
HOUR = timedelta(hours=1)
SPANS = {BUCKET: 300, HOUR: 3600}
#: Upper bounds (seconds) of the histogram bins; the last bin is everything above.
BOUNDS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Buckets kept: the dashboard's longest window is a week.
KEEP = timedelta(days=8)
#: A finish is folded in only once this old: a worker's commit may land a moment late.
LAG = timedelta(minutes=1)
#: Each pass recomputes this many of the latest buckets, for rows whose finish
#: landed after the pass that covered their minute (a late commit, a repair).
RECOMPUTE = 3
COUNTED = (JobStatus.COMPLETED, JobStatus.FAILED)
BUCKET_FIELDS = (
    "start",
    "queue",
    "job_type",
    "completed",
    "failed",
    "wait_histogram",
    "run_histogram",
    "wait_seconds",
    "run_seconds",
)


def floor_time(at: datetime, step: timedelta = BUCKET) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=at.tzinfo)
    return at - (at - epoch) % step


def empty_histogram() -> list[int]:
    return [0] * (len(BOUNDS) + 1)


def histogram_bin(seconds: float) -> int:
    """The index of the bin of `BOUNDS` that `seconds` falls in (the last bin is everything above)."""
    return bisect.bisect_left(BOUNDS, max(seconds, 0.0))


def histogram_add(histogram: list[int], seconds: float) -> None:
    histogram[histogram_bin(seconds)] += 1


def histogram_merge(into: list[int], other: list[int]) -> None:
    for index, value in enumerate(other[: len(into)]):
        into[index] += value


def histogram_quantile(histogram: list[int], q: float) -> float | None:
    """The `q` quantile (0..1), interpolated inside its bin as Prometheus does; None without data."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = BOUNDS[index - 1] if index else 0.0
            if index >= len(BOUNDS):
                return low  # open-ended last bin: its lower bound is all we know
            return low + (BOUNDS[index] - low) * (rank - seen) / count
        seen += count
    return BOUNDS[-1]


class Aggregate:
    """Counts and histograms of one group of finished rows."""

    __slots__ = ("completed", "failed", "wait", "run", "wait_seconds", "run_seconds")

    def __init__(self):
        self.completed = 0
        self.failed = 0
        self.wait = empty_histogram()
        self.run = empty_histogram()
        self.wait_seconds = 0.0
        self.run_seconds = 0.0

    def add_row(self, status, created_at, started_at, completed_at) -> None:
        if status == JobStatus.COMPLETED:
            self.completed += 1
        else:
            self.failed += 1
        if started_at is not None:
            wait = max((started_at - created_at).total_seconds(), 0.0)
            histogram_add(self.wait, wait)
            self.wait_seconds += wait
            if completed_at is not None:
                run = max((completed_at - started_at).total_seconds(), 0.0)
                histogram_add(self.run, run)
                self.run_seconds += run

    def add_bucket(
        self, completed: int, failed: int, wait: list[int], run: list[int], wait_seconds=0.0, run_seconds=0.0
    ) -> None:
        self.completed += completed
        self.failed += failed
        histogram_merge(self.wait, wait)
        histogram_merge(self.run, run)
        self.wait_seconds += wait_seconds
        self.run_seconds += run_seconds

    def fields(self) -> dict:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "wait_histogram": self.wait,
            "run_histogram": self.run,
            "wait_seconds": self.wait_seconds,
            "run_seconds": self.run_seconds,
        }


def finished_rows(*, since: datetime, until: datetime | None = None, queue: str = "", job_type: str = ""):
    """(queue, job_type, status, created_at, started_at, completed_at) of rows finished in [since, until)."""
    rows = BackgroundJob.objects.filter(completed_at__gte=since, status__in=COUNTED)
    if until is not None:
        rows = rows.filter(completed_at__lt=until)
    if queue:
        rows = rows.filter(queue=queue)
    if job_type:
        rows = rows.filter(job_type=job_type)
    return rows.order_by().values_list("queue", "job_type", "status", "created_at", "started_at", "completed_at")


def job_stats_roll_up(*, now: datetime | None = None) -> int:
    """Fold rows finished since the last pass into buckets; prune old buckets. Returns buckets written.

    The first pass on a big table folds up to `KEEP` of history (a backfill,
    seconds per hundred thousand rows); later passes read a few minutes.
    """
    now = now or timezone.now()
    end = floor_time(now - LAG)
    oldest = floor_time(now - KEEP)
    # The one rule: rebuild every bucket from the latest one written (at least
    # the last RECOMPUTE) up to LAG ago; a rebuilt bucket replaces the old one.
    latest = JobStatsBucket.objects.filter(span=SPANS[BUCKET]).aggregate(latest=Max("start"))["latest"]
    begin = max(min(latest, end - RECOMPUTE * BUCKET) if latest is not None else oldest, oldest)
    if begin >= end:
        return 0
    groups: dict[tuple, Aggregate] = {}
    for queue, job_type, status, created_at, started_at, completed_at in finished_rows(since=begin, until=end).iterator(
        chunk_size=5000
    ):
        key = (floor_time(completed_at), queue, job_type)
        aggregate = groups.get(key)
        if aggregate is None:
            aggregate = groups[key] = Aggregate()
        aggregate.add_row(status, created_at, started_at, completed_at)
    buckets = [
        JobStatsBucket(start=start, queue=queue, job_type=job_type, **aggregate.fields())
        for (start, queue, job_type), aggregate in groups.items()
    ]
    with transaction.atomic():
        JobStatsBucket.objects.filter(span=SPANS[BUCKET], start__gte=begin, start__lt=end).delete()
        JobStatsBucket.objects.bulk_create(buckets, batch_size=1000)
        written = len(buckets) + _roll_up_hours(begin=floor_time(begin, HOUR), end=floor_time(end, HOUR))
        JobStatsBucket.objects.filter(start__lt=floor_time(now - KEEP)).delete()
    logger.debug("Job stats: %d bucket(s) written for %s .. %s", written, begin, end)
    return written


def _roll_up_hours(*, begin: datetime, end: datetime) -> int:
    """Replace the hour buckets of the closed hours in [begin, end) with the sum of their five-minute buckets."""
    if begin >= end:
        return 0
    groups: dict[tuple, Aggregate] = {}
    fine = JobStatsBucket.objects.filter(span=SPANS[BUCKET], start__gte=begin, start__lt=end).order_by()
    for start, queue, job_type, *figures in fine.values_list(*BUCKET_FIELDS).iterator(chunk_size=2000):
        key = (floor_time(start, HOUR), queue, job_type)
        aggregate = groups.get(key)
        if aggregate is None:
            aggregate = groups[key] = Aggregate()
        aggregate.add_bucket(*figures)
    JobStatsBucket.objects.filter(span=SPANS[HOUR], start__gte=begin, start__lt=end).delete()
    JobStatsBucket.objects.bulk_create(
        [
            JobStatsBucket(span=SPANS[HOUR], start=start, queue=queue, job_type=job_type, **aggregate.fields())
            for (start, queue, job_type), aggregate in groups.items()
        ],
        batch_size=1000,
    )
    return len(groups)
