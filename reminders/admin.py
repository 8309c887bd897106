"""Admin for reminders: state at a glance, and actions that call the reminder services."""

from datetime import datetime

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils.timezone import make_aware

from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.services import reminders_cancel, reminders_reset_pending, reminders_send_now


class EdgeSafeChangeList(ChangeList):
    """The date hierarchy for periods that end past year 9999 (a reminder may be set in 9999).

    Django computes the end of the chosen year, month or day as the start of the
    next one, which for 9999 (or 9999-12, 9999-12-31) is no date at all and a 500;
    such a period runs to the end of time, so only its start is filtered.
    """

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError):
            pass  # Django checked the start itself; only the end can fail here
        field = self.date_hierarchy
        keys = [f"{field}__{part}" for part in ("year", "month", "day")]
        year, month, day = (int(self.filter_params[key][-1]) if key in self.filter_params else 1 for key in keys)
        saved = self.filter_params
        self.filter_params = {key: value for key, value in saved.items() if key not in keys}
        try:
            specs, has_filters, lookups, duplicates, active = super().get_filters(request)
        finally:
            self.filter_params = saved
        lookups[f"{field}__gte"] = [make_aware(datetime(year, month, day))]
        return specs, has_filters, lookups, duplicates, True


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

    def get_changelist(self, request, **kwargs):
        return EdgeSafeChangeList

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
