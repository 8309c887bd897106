"""Admin for background jobs: state at a glance, and actions over services."""

from django.contrib import admin, messages

from jobs.models import ACTIVE_STATUSES, BackgroundJob, BackgroundJobEvent
from jobs.services import background_job_mark_failed


class BackgroundJobEventInline(admin.TabularInline):
    model = BackgroundJobEvent
    extra = 0
    can_delete = False
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


@admin.register(BackgroundJob)
class BackgroundJobAdmin(admin.ModelAdmin):
    list_display = [
        "job_id",
        "job_type",
        "user",
        "status",
        "progress_percent",
        "processed_items",
        "total_items",
        "queue",
        "attempts",
        "created_at",
        "started_at",
        "completed_at",
    ]
    list_filter = ["status", "job_type", "queue", "created_at"]
    search_fields = ["job_id", "rq_job_id", "user__username"]
    readonly_fields = [f.name for f in BackgroundJob._meta.fields]
    inlines = [BackgroundJobEventInline]
    actions = ["mark_failed"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    @admin.action(permissions=["change"], description="Mark selected stuck jobs as failed")
    def mark_failed(self, request, queryset):
        n = background_job_mark_failed(
            jobs=queryset.filter(status__in=ACTIVE_STATUSES),
            reason=f"Marked failed by {request.user.get_username()} from the admin",
            by=request.user,
        )
        self.message_user(request, f"{n} job(s) marked failed.", messages.SUCCESS)
