"""/metrics: job outcomes as counters, queue wait and run time as histograms, and the apps' collectors.

The figures are counted in Redis as each job finishes (`operations.job_counters`,
on the job core's observer point), so a scrape is one HGETALL and the counters
move with the jobs, whichever process serves the scrape. Apps add their own
collectors with `register_collector` (the reminders app's lateness is added in
OperationsConfig.ready).
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
    """Every finished job, counted when it finished (operations.job_counters): current in any process."""

    def collect(self):
        from redis.exceptions import RedisError

        from operations.job_counters import job_counters_read

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
        try:
            figures = job_counters_read()
        except RedisError:
            return  # Redis down: no counters rather than zeros (/health names Redis)
        for (queue, job_type, outcome), n in sorted(figures["outcomes"].items()):
            outcomes.add_metric([queue, job_type, outcome], n)
        for family, name in ((wait, "wait"), (run, "run")):
            for labels, histogram in sorted(figures[name].items()):
                family.add_metric(list(labels), histogram_buckets(histogram["bins"]), histogram["sum"])
        yield outcomes
        yield wait
        yield run
