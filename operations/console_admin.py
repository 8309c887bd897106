"""The operator console in the admin: the dashboard (charts, live counts, pause/resume) and the audit list."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from redis.exceptions import RedisError

from common import queues
from jobs.models import BackgroundJobEvent
from operations.admin_lists import OperatorPageAdmin, ReadOnlyAdmin
from operations.charts import bar_chart, line_chart, seconds_label
from operations.dashboard import DEFAULT_WINDOW, WINDOWS, dashboard_job_types, dashboard_live, dashboard_series
from operations.models import JobDashboard, OperatorAction
from operations.pausing import queue_pause, queue_resume

#: Seconds between the page's own reloads.
REFRESH_SECONDS = 30


def _label(at, window) -> str:
    at = timezone.localtime(at)
    return at.strftime("%a %H:%M") if window.key == "7d" else at.strftime("%H:%M")


@admin.register(JobDashboard)
class JobDashboardAdmin(OperatorPageAdmin):
    """The last hour, day or week per queue and job type; what runs now; pause and resume per queue."""

    def get_urls(self):
        return [
            path(
                "queue/<str:name>/<str:action>/",
                self.admin_site.admin_view(self.queue_action_view),
                name="operations_jobdashboard_queue",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        window = WINDOWS.get(request.GET.get("window", ""), WINDOWS[DEFAULT_WINDOW])
        job_types = dashboard_job_types()
        queue = request.GET.get("queue", "") if request.GET.get("queue", "") in queues.ALL else ""
        job_type = request.GET.get("job_type", "") if request.GET.get("job_type", "") in job_types else ""
        series = dashboard_series(window=window, queue=queue, job_type=job_type)
        labels = [_label(at, window) for at in series["labels"]]
        points = series["intervals"]
        context = {
            **self.admin_site.each_context(request),
            "title": "Operator dashboard",
            "opts": self.model._meta,
            "window": window,
            "windows": WINDOWS.values(),
            "queue": queue,
            "job_type": job_type,
            "queues": queues.ALL,
            "job_types": job_types,
            "series": series,
            "by_type_rows": [
                {
                    **row,
                    **{key: seconds_label(row[key]) for key in ("wait_p50", "wait_p95", "run_p50", "run_p95")},
                }
                for row in series["by_type"]
            ],
            "live": dashboard_live(),
            "refresh_seconds": REFRESH_SECONDS,
            "can_pause": request.user.has_perm("jobs.change_backgroundjob"),
            "outcomes_chart": bar_chart(
                title=f"Jobs finished per {seconds_label(window.step.total_seconds())}",
                labels=labels,
                stacks=[
                    ("completed", "#198754", [point["completed"] for point in points]),
                    ("failed", "#dc3545", [point["failed"] for point in points]),
                ],
            ),
            "wait_chart": line_chart(
                title="Queue wait (created → started)",
                labels=labels,
                lines=[
                    ("p50", "#0d6efd", [point["wait_p50"] for point in points]),
                    ("p95", "#6f42c1", [point["wait_p95"] for point in points]),
                ],
            ),
            "run_chart": line_chart(
                title="Run time (started → finished)",
                labels=labels,
                lines=[
                    ("p50", "#198754", [point["run_p50"] for point in points]),
                    ("p95", "#b58105", [point["run_p95"] for point in points]),
                ],
            ),
        }
        return TemplateResponse(request, "admin/operations/dashboard.html", context)

    def queue_action_view(self, request, name, action):
        """POST only: pause or resume one queue, then back to the dashboard with a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("jobs.change_backgroundjob"):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:operations_jobdashboard_changelist"))
        if name not in queues.ALL or action not in ("pause", "resume"):
            self.message_user(request, f"Unknown queue {name!r} or action {action!r}.", messages.ERROR)
            return back
        reason = request.POST.get("reason", "").strip()[:200]
        try:
            if action == "pause":
                changed = queue_pause(name=name, by=request.user, reason=reason or "paused from the dashboard")
                text = f"Queue {name} paused: its jobs wait." if changed else f"Queue {name} was already paused."
            else:
                changed = queue_resume(name=name, by=request.user)
                text = f"Queue {name} resumed." if changed else f"Queue {name} was not paused."
        except RedisError as exc:
            self.message_user(request, f"Redis is unreachable ({exc}); nothing changed.", messages.ERROR)
            return back
        self.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)
        return back


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdmin):
    """Who did what, from the admin or a command: read-only and searchable."""

    list_display = ["at", "actor", "source", "action", "target", "count", "detail"]
    list_filter = ["action", "source", "at"]
    search_fields = ["action", "target", "detail", "actor__username"]
    list_select_related = ["actor"]
    date_hierarchy = "at"
    readonly_fields = list_display


@admin.register(BackgroundJobEvent)
class BackgroundJobEventAdmin(ReadOnlyAdmin):
    """Every job's audit trail in one searchable list: operators' actions, repairs, retried attempts."""

    list_display = ["at", "job_link", "actor", "source", "action", "status_before", "status_after", "reason"]
    list_filter = ["action", "source", "status_after", "at"]
    search_fields = ["job__job_id", "action", "reason", "actor__username"]
    list_select_related = ["actor", "job"]
    date_hierarchy = "at"
    readonly_fields = ["at", "job", "actor", "source", "action", "status_before", "status_after", "reason"]

    @admin.display(description="job", ordering="job")
    def job_link(self, event):
        return format_html(
            '<a href="{}"><code title="{}">{}</code></a> {}',
            reverse("admin:jobs_backgroundjob_change", args=[event.job_id]),
            event.job_id,
            str(event.job_id)[:8],
            event.job.job_type,
        )
