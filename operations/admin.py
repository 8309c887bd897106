"""Admin for background jobs: state at a glance, RQ's view beside the row, actions over services.

Every action narrows the selection to the rows it applies to, calls the same
service the reconciler and the commands use, reports a count, and leaves an
audit event (shown inline on the job's page).
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from common.diagnostics import run_diagnostics
from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.services import (
    background_job_cancel,
    background_job_mark_failed,
    background_job_retry,
)
from operations.admin_lists import EstimatedCountPaginator, JobTypeFilter, OperatorPageAdmin, QueueFilter
from operations.diagnostics import state
from operations.models import JobHealth
from operations.selectors import rq_job_state, rq_state_mismatch

#: Colour of each status in the list; a drift test checks it covers JobStatus.
STATUS_COLOURS = {
    JobStatus.QUEUED: "#6c757d",
    JobStatus.RUNNING: "#0d6efd",
    JobStatus.COMPLETED: "#198754",
    JobStatus.FAILED: "#dc3545",
    JobStatus.CANCELLED: "#b58105",
}


class BackgroundJobEventInline(admin.TabularInline):
    model = BackgroundJobEvent
    extra = 0
    can_delete = False
    verbose_name = "audit event"
    verbose_name_plural = "audit trail"
    fields = [
        "at",
        "actor",
        "source",
        "action",
        "status_before",
        "status_after",
        "reason",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    CHOICES = {
        "1h": ("Created in the last hour", timedelta(hours=1)),
        "24h": ("Created in the last 24 hours", timedelta(hours=24)),
        "7d": ("Created in the last 7 days", timedelta(days=7)),
        "older7d": ("Older than 7 days", timedelta(days=7)),
        "running1h": ("Running for more than 1 hour", timedelta(hours=1)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.CHOICES.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.CHOICES:
            return queryset
        cutoff = timezone.now() - self.CHOICES[self.value()][1]
        if self.value() == "older7d":
            return queryset.filter(created_at__lt=cutoff)
        if self.value() == "running1h":
            return queryset.filter(status=JobStatus.RUNNING, started_at__lt=cutoff)
        return queryset.filter(created_at__gte=cutoff)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@admin.register(BackgroundJob)
class BackgroundJobAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "job_type",
        "user",
        "coloured_status",
        "progress_bar",
        "processed_total",
        "created_at",
        "started_at",
        "completed_at",
        "duration",
        "queue",
    ]
    list_filter = ["status", JobTypeFilter, AgeFilter, QueueFilter]
    # Choices from the code and an estimated total: a million rows stay cheap (operations/admin_lists.py).
    paginator = EstimatedCountPaginator
    search_fields = ["job_id", "rq_job_id", "request_id", "user__username"]
    readonly_fields = [f.name for f in BackgroundJob._meta.fields] + [
        "duration",
        "rq_state",
        "traceback_text",
        "log_text",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("job_id", "job_type", "queue"),
                    ("user", "status", "attempts"),
                    ("progress_percent", "processed_items", "total_items"),
                    ("created_at", "started_at", "completed_at", "duration"),
                    "rq_job_id",
                    "params",
                    "result_data",
                    "error_message",
                ]
            },
        ),
        ("Why it failed: traceback and the task's log", {"fields": ["traceback_text", "log_text"]}),
        ("Row and RQ job side by side", {"fields": ["rq_state"]}),
    ]
    inlines = [BackgroundJobEventInline]
    actions = ["mark_failed", "retry", "cancel"]
    list_display_links = ["short_id"]
    list_select_related = ["user"]
    list_per_page = 50
    # A filtered list counts its own rows only; a second count of the whole table costs a scan per page view.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    @admin.display(description="job", ordering="job_id")
    def short_id(self, job):
        # A full UUID wrapped over four lines; the job's page shows it whole.
        return format_html('<code title="{}">{}</code>', job.job_id, str(job.job_id)[:8])

    @admin.display(description="status", ordering="status")
    def coloured_status(self, job):
        return format_html(
            '<span class="job-status" style="color:#fff;background:{};padding:1px 6px;border-radius:3px">{}</span>',
            STATUS_COLOURS.get(job.status, "#333"),
            job.get_status_display(),
        )

    @admin.display(description="progress", ordering="progress_percent")
    def progress_bar(self, job):
        return format_html(
            '<div title="{}%" style="width:80px;background:#e9ecef;border-radius:3px">'
            '<div style="width:{}%;background:{};height:10px;border-radius:3px"></div></div>',
            job.progress_percent,
            job.progress_percent,
            STATUS_COLOURS.get(job.status, "#333"),
        )

    @admin.display(description="processed")
    def processed_total(self, job):
        return f"{job.processed_items}/{job.total_items}"

    @admin.display(description="duration")
    def duration(self, job):
        if job.started_at and not job.completed_at and job.status == JobStatus.RUNNING:
            return f"{_duration((timezone.now() - job.started_at).total_seconds())} so far"
        return _duration(job.duration_seconds)

    @admin.display(description="traceback of the last failure")
    def traceback_text(self, job):
        if not job.error_traceback:
            return "–"
        return format_html(
            '<pre class="job-traceback" style="white-space:pre-wrap;margin:0">{}</pre>', job.error_traceback
        )

    @admin.display(description="log lines")
    def log_text(self, job):
        if not job.log:
            return "–"
        return format_html('<pre class="job-log" style="white-space:pre-wrap;margin:0">{}</pre>', job.log)

    @admin.display(description="RQ job in Redis")
    def rq_state(self, job):
        state = rq_job_state(job)
        mismatch = rq_state_mismatch(job, state)
        banner = (
            format_html('<p class="errornote rq-mismatch">Mismatch: {}</p>', mismatch)
            if mismatch
            else format_html('<p class="rq-agree">{}</p>', "The row and RQ agree.")
        )
        if state.get("error"):
            return format_html('{}<p class="errornote">{}</p>', banner, state["error"])
        if not state["exists"]:
            return format_html(
                "{}<p>RQ job <code>{}</code> is not in Redis (its result expired, or Redis lost it).</p>",
                banner,
                state["rq_job_id"],
            )
        worker = state["worker"] or "–"
        if state["worker"]:
            alive = f"alive, heartbeat {state['worker_last_heartbeat']}" if state["worker_alive"] else "gone"
            worker = f"{worker} ({alive})"
        rows = [
            ("status", job.status, state["status"]),
            ("registry / queue", job.queue, f"{state['registry']} on {state['origin']}"),
            ("started", job.started_at, state["started_at"]),
            ("ended", job.completed_at, state["ended_at"]),
            ("worker", "", worker),
            ("attempts / retries left", job.attempts, state["retries_left"]),
            ("error / exception", job.error_message, state["exc_info"]),
        ]
        table = format_html_join(
            "",
            "<tr><th>{}</th><td><pre style='white-space:pre-wrap;margin:0'>{}</pre></td>"
            "<td><pre style='white-space:pre-wrap;margin:0'>{}</pre></td></tr>",
            ((label, "" if left is None else left, "" if right is None else right) for label, left, right in rows),
        )
        return format_html(
            '{}<table class="rq-state"><thead><tr><th></th><th>Row (database)</th><th>RQ job {} (Redis)</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            banner,
            state["rq_job_id"],
            table,
        )

    def _report(self, request, queryset, n: int, done: str, skip_reason: str) -> None:
        """Tell the operator how many rows the action changed and how many it skipped, and why."""
        skipped = queryset.count() - n
        text = f"{n} job(s) {done}." + (f" {skipped} skipped ({skip_reason})." if skipped else "")
        self.message_user(request, text, messages.SUCCESS if n else messages.WARNING)

    @admin.action(permissions=["change"], description="Mark selected stuck jobs as failed")
    def mark_failed(self, request, queryset):
        n = background_job_mark_failed(
            job_rows=queryset,
            reason=f"Marked failed by {request.user.get_username()} from the admin",
            by=request.user,
        )
        self._report(request, queryset, n, "marked failed", "not queued or running")

    @admin.action(permissions=["change"], description="Retry selected failed/cancelled jobs (new attempt)")
    def retry(self, request, queryset):
        n = background_job_retry(
            job_rows=queryset,
            reason=f"Retried by {request.user.get_username()} from the admin",
            by=request.user,
        )
        self._report(request, queryset, n, "queued for a new attempt", "not failed or cancelled")

    @admin.action(permissions=["change"], description="Cancel selected queued/running jobs")
    def cancel(self, request, queryset):
        n = background_job_cancel(
            job_rows=queryset,
            reason=f"Cancelled by {request.user.get_username()} from the admin",
            by=request.user,
        )
        self._report(request, queryset, n, "cancelled", "not queued or running")


def _job_health_context() -> dict:
    """Everything the job-health page shows, from the diagnostics every app registers."""
    findings = run_diagnostics()
    by_name = {finding.name: finding for finding in findings}

    def data(name, default):
        finding = by_name.get(name)
        return finding.data if finding is not None and finding.data is not None else default

    workers = next(
        (
            finding.data["workers"]
            for finding in findings
            if finding.name.startswith("workers:") and finding.data and "workers" in finding.data
        ),
        [],
    )
    return {
        "findings": findings,
        "counts": data(state.BY_STATUS, {}),
        "failures": data(state.FAILURES_24H, {"count": 0, "latest": []}),
        "averages": data(state.AVERAGE_SECONDS, {}),
        "queue_lengths": data(state.QUEUES, {}),
        "workers": workers,
        "stuck": data(state.STUCK, {}).get("jobs", []),
        "lost": data(state.LOST, {}).get("repairs", []),
        "periodic": [finding for finding in findings if finding.name.startswith("periodic:")],
        "other_findings": [
            finding
            for finding in findings
            if finding.data and not finding.name.startswith(("jobs:", "workers:", "queues"))
        ],
    }


@admin.register(JobHealth)
class JobHealthAdmin(OperatorPageAdmin):
    """The job-health page: the guide's SQL and redis-cli recipes on one screen."""

    def changelist_view(self, request, extra_context=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "Job health",
            "opts": self.model._meta,
            **_job_health_context(),
        }
        return TemplateResponse(request, "admin/operations/job_health.html", context)


# The operator console (dashboard, audit list) lives in its own module.
from operations import console_admin  # noqa: E402, F401
