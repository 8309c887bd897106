"""Request and response shapes for /reminders."""

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from notes.models import Note
from reminders.models import Reminder, ReminderStatus


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a naive time is a 400, never guessed."""

    default_error_messages = {
        "naive": "Give the time with a UTC offset or 'Z' (e.g. 2030-01-31T09:00:00+01:00); "
        "a time without one is ambiguous."
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


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


class ReminderListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReminderStatus.choices, required=False)
