"""`/metrics` for Prometheus: django-rq's RQ collector plus job outcomes and periodic-run results.

RQ's view (queue lengths, workers, registries) comes from django-rq's
`RQCollector`; this module adds what only the rows know: jobs by type and
status, failures in the last 24 h, stuck jobs, and for each periodic job (the
reminder sweep, the reconciler) when it last ran and the numbers in its last
result; and the facts /health reads (jobs waiting and live workers per project
queue, the scheduler), from the same selectors.
"""

from __future__ import annotations

from datetime import timedelta
from secrets import compare_digest

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from jobs.models import BackgroundJob, JobStatus


class JobsCollector:
    def collect(self):
        jobs = GaugeMetricFamily(
            "scribes_jobs", "Background job rows by type and status", labels=["job_type", "status"]
        )
        for row in BackgroundJob.objects.order_by().values("job_type", "status").annotate(n=Count("pk")):
            jobs.add_metric([row["job_type"], row["status"]], row["n"])
        yield jobs

        since = timezone.now() - timedelta(hours=24)
        failed = GaugeMetricFamily("scribes_jobs_failed_24h", "Jobs failed in the last 24 hours", labels=["job_type"])
        recent = BackgroundJob.objects.filter(status=JobStatus.FAILED, completed_at__gte=since).order_by()
        for row in recent.values("job_type").annotate(n=Count("pk")):
            failed.add_metric([row["job_type"]], row["n"])
        yield failed

        from jobs.schedules import all_periodic_jobs

        last_run = GaugeMetricFamily(
            "scribes_periodic_last_run_timestamp_seconds",
            "When each periodic job last finished, by outcome",
            labels=["job_type", "status"],
        )
        last_result = GaugeMetricFamily(
            "scribes_periodic_last_result",
            "Numeric fields of each periodic job's last completed result (e.g. reminders sent)",
            labels=["job_type", "key"],
        )
        for periodic in all_periodic_jobs():
            for status in (JobStatus.COMPLETED, JobStatus.FAILED):
                row = (
                    BackgroundJob.objects.filter(status=status, job_type=periodic.job_type)
                    .order_by("-completed_at")
                    .values("completed_at", "result_data")
                    .first()
                )
                if row is None or row["completed_at"] is None:
                    continue
                last_run.add_metric([periodic.job_type, status], row["completed_at"].timestamp())
                if status == JobStatus.COMPLETED and isinstance(row["result_data"], dict):
                    for key, value in row["result_data"].items():
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            last_result.add_metric([periodic.job_type, key], value)
        yield last_run
        yield last_result
        yield from self.collect_facts()

    def collect_facts(self):
        """The operator facts doctor and /health read, from the same selectors."""
        from operations.selectors import background_job_stuck, redis_health

        stuck = GaugeMetricFamily(
            "scribes_jobs_stuck", "Jobs running past their timeout or queued too long", labels=["job_type"]
        )
        for row in background_job_stuck().order_by().values("job_type").annotate(n=Count("pk")):
            stuck.add_metric([row["job_type"]], row["n"])
        yield stuck
        health = redis_health()
        if health["redis"] != "ok":
            return  # Redis down: no queue figures rather than wrong ones (/health names Redis)
        waiting = GaugeMetricFamily("scribes_queue_waiting", "Jobs waiting on each project queue", labels=["queue"])
        workers = GaugeMetricFamily("scribes_queue_workers", "Live workers listening on each queue", labels=["queue"])
        for name, n in health["queues"].items():
            waiting.add_metric([name], n)
            workers.add_metric([name], health["workers_by_queue"][name])
        yield waiting
        yield workers
        yield GaugeMetricFamily(
            "scribes_scheduler_up", "1 when manage.py rqscheduler runs", value=int(health["scheduler"] == "ok")
        )


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    from operations.console_metrics import app_collectors

    for collector in app_collectors():  # the console's counters and histograms, and the apps' own
        registry.register(collector)
    try:
        from django_rq.contrib.prometheus import RQCollector
    except ImportError:  # pragma: no cover - prometheus_client is a requirement
        pass
    else:
        registry.register(RQCollector())
    return registry


def _authorized(request) -> bool:
    if getattr(request.user, "is_staff", False):
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(
        token and header.startswith("Bearer ") and compare_digest(token, header.removeprefix("Bearer ").strip())
    )


@never_cache
def metrics_view(request):
    if not _authorized(request):
        return JsonResponse(
            {"detail": "Send 'Authorization: Bearer <METRICS_TOKEN>' (set METRICS_TOKEN) or log in as staff."},
            status=401,
        )
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encoder(_registry()), headers={"Content-Type": content_type})
