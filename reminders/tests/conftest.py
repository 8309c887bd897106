"""Fixtures for the reminder tests: notes and due reminders made in bulk."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notes.models import Note
from reminders.models import Reminder


@pytest.fixture
def note(user):
    return Note.objects.create(user=user, title="Buy milk", content="Two litres,\n semi-skimmed.")


@pytest.fixture
def make_due(user, note):
    """make_due(n) → n pending reminders due a minute ago (bulk_create)."""

    def make(n=1, *, owner=None, on_note=None, ago=timedelta(minutes=1)):
        at = timezone.now() - ago
        return Reminder.objects.bulk_create(
            [Reminder(user=owner or user, note=on_note or note, scheduled_at=at) for _ in range(n)]
        )

    return make
