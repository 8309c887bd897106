"""Admin for reminders: state at a glance, and actions that call the reminder services."""

from django.contrib import admin, messages

from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.services import reminders_cancel, reminders_reset_pending, reminders_send_now


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "note", "scheduled_at", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "scheduled_at", "sent_at"]
    search_fields = ["id", "user__username", "user__email", "note__title"]
    list_select_related = ["user", "note"]
    raw_id_fields = ["user", "note"]
    date_hierarchy = "scheduled_at"
    readonly_fields = [
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "next_attempt_at",
        "claim_token",
        "claimed_at",
        "delivery_started_at",
        "created_at",
        "updated_at",
    ]
    actions = ["send_now", "reset_to_pending", "cancel"]

    @admin.action(permissions=["change"], description="Send selected pending reminders now")
    def send_now(self, request, queryset):
        result = reminders_send_now(reminders=queryset.filter(status=ReminderStatus.PENDING), by=request.user)
        level = messages.SUCCESS if not result.failed else messages.WARNING
        self.message_user(
            request,
            f"{result.sent} reminder(s) sent, {result.failed} failed ({result.retrying} will be retried), "
            f"{result.skipped} skipped (not pending or being delivered).",
            level,
        )

    @admin.action(permissions=["change"], description="Reset selected failed/cancelled reminders to pending")
    def reset_to_pending(self, request, queryset):
        n = reminders_reset_pending(
            reminders=queryset.filter(status__in=[ReminderStatus.FAILED, ReminderStatus.CANCELLED]), by=request.user
        )
        self.message_user(request, f"{n} reminder(s) reset to pending; the next sweep sends them.", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Cancel selected pending reminders")
    def cancel(self, request, queryset):
        n = reminders_cancel(reminders=queryset.filter(status=ReminderStatus.PENDING), by=request.user)
        self.message_user(request, f"{n} reminder(s) cancelled.", messages.SUCCESS)


@admin.register(ReminderSweepSlot)
class ReminderSweepSlotAdmin(admin.ModelAdmin):
    list_display = ["slot", "background_job", "created_at"]
    readonly_fields = ["slot", "background_job", "created_at"]

    def has_add_permission(self, request):
        return False
