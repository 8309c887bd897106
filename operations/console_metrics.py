"""/metrics from the console's totals: job outcomes as counters, queue wait and run time as histograms.

The figures come from `JobStatsTotal` (folded by the reconciler's rollup a
few minutes after each job finishes), so a scrape is one small query and the
counters only grow. Apps add their own collectors with `register_collector`
in their `AppConfig.ready()` (the reminders app adds reminder lateness).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from operations.stats import BOUNDS

_COLLECTORS: list[Callable[[], object]] = []


def register_collector(factory: Callable[[], object]) -> None:
    """Add a Prometheus collector (built by `factory` at each scrape) to /metrics."""
    if factory not in _COLLECTORS:
        _COLLECTORS.append(factory)


def app_collectors() -> list[object]:
    return [JobTotalsCollector(), *(factory() for factory in _COLLECTORS)]


def histogram_buckets(counts: list[int]) -> list[tuple[str, int]]:
    """Prometheus's cumulative (le, count) pairs from per-bin counts over `BOUNDS`."""
    cumulative, pairs = 0, []
    for bound, count in zip([*map(str, BOUNDS), "+Inf"], counts, strict=False):
        cumulative += count
        pairs.append((bound, cumulative))
    while len(pairs) < len(BOUNDS) + 1:
        pairs.append(([*map(str, BOUNDS), "+Inf"][len(pairs)], cumulative))
    return pairs


class JobTotalsCollector:
    def collect(self):
        from operations.models import JobStatsTotal

        outcomes = CounterMetricFamily(
            "scribes_job_outcomes", "Finished jobs by queue, type and outcome", labels=["queue", "job_type", "outcome"]
        )
        wait = HistogramMetricFamily(
            "scribes_job_queue_wait_seconds",
            "Queue wait (created → started) of finished jobs",
            labels=["queue", "job_type"],
        )
        run = HistogramMetricFamily(
            "scribes_job_run_seconds", "Run time (started → finished) of finished jobs", labels=["queue", "job_type"]
        )
        for total in JobStatsTotal.objects.exclude(queue="*").order_by("queue", "job_type"):
            labels = [total.queue, total.job_type]
            outcomes.add_metric([*labels, "completed"], total.completed)
            outcomes.add_metric([*labels, "failed"], total.failed)
            wait.add_metric(labels, histogram_buckets(total.wait_histogram), total.wait_seconds)
            run.add_metric(labels, histogram_buckets(total.run_histogram), total.run_seconds)
        yield outcomes
        yield wait
        yield run
