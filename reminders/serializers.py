"""Request and response shapes for /reminders."""

from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from notes.models import Note
from reminders.models import Reminder, ReminderStatus

#: How far back a reminder may be set (a clock a little behind, a retry of a just-due one) and how far ahead.
SCHEDULED_AT_PAST = timedelta(days=1)
SCHEDULED_AT_FUTURE = timedelta(days=3653)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a naive time is a 400, never guessed.

    A well-formed but impossible time (month 13, 30 February, hour 99, offset
    +25:00) makes Django's parser raise instead of answering None, and a time at
    the edge of year 1 or 9999 can overflow on conversion to UTC: both are a 400.
    """

    default_error_messages = {
        "naive": "Give the time with a UTC offset or 'Z' (e.g. 2030-01-31T09:00:00+01:00); "
        "a time without one is ambiguous.",
        "impossible": "{value!r} is not a real time: {reason}.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError as exc:
                self.fail("impossible", value=value[:40], reason=exc)
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("impossible", value=str(value)[:40], reason="it is outside the years 1 to 9999 in UTC")


class OwnNoteField(serializers.PrimaryKeyRelatedField):
    """A note id of the caller's own notes; any other id is a 400 ("does not exist")."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Note.objects.none()
        return Note.objects.filter(user=request.user)


class ReminderSerializer(serializers.ModelSerializer):
    note_id = OwnNoteField(source="note")
    scheduled_at = AwareDateTimeField(help_text="When to send; ISO 8601 with an offset. Stored and shown in UTC.")

    class Meta:
        model = Reminder
        fields = [
            "id",
            "note_id",
            "scheduled_at",
            "status",
            "attempts",
            "last_error",
            "sent_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "attempts", "last_error", "sent_at", "created_at", "updated_at"]

    def validate_scheduled_at(self, value):
        now = timezone.now()
        if not now - SCHEDULED_AT_PAST <= value <= now + SCHEDULED_AT_FUTURE:
            raise serializers.ValidationError(
                "Schedule a reminder between one day ago and ten years from now "
                f"(between {now - SCHEDULED_AT_PAST:%Y-%m-%d %H:%M} and {now + SCHEDULED_AT_FUTURE:%Y-%m-%d} UTC)."
            )
        return value


class ReminderListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReminderStatus.choices, required=False)
