"""The API's writes on reminders: create within the per-user cap, edit, delete."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from reminders.follow_ups import sweep_follow_up_request
from reminders.models import Reminder, ReminderStatus


class ReminderConflict(Exception):
    """The reminder cannot be changed in its current state (the API answers 409)."""


class ReminderLimitExceeded(Exception):
    """The user already has REMINDER_MAX_PENDING_PER_USER pending reminders (the API answers 400)."""


@transaction.atomic
def reminder_create(*, user, note, scheduled_at: datetime) -> Reminder:
    """Create a pending reminder, within the per-user cap.

    The user's row is locked first so concurrent creates cannot all pass the
    count check and overshoot the cap.
    """
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    limit = settings.REMINDER_MAX_PENDING_PER_USER
    if Reminder.objects.filter(user=user, status=ReminderStatus.PENDING).count() >= limit:
        raise ReminderLimitExceeded(
            f"You already have {limit} pending reminders, the most allowed; cancel or delete some first."
        )
    reminder = Reminder.objects.create(user=user, note=note, scheduled_at=scheduled_at)
    _follow_up_on_commit(reminder)
    return reminder


def _follow_up_on_commit(reminder: Reminder) -> None:
    # Due before the next tick: no sweep has seen it yet, so ask for its follow-up now.
    if reminder.status == ReminderStatus.PENDING:
        transaction.on_commit(lambda: sweep_follow_up_request(due=reminder.scheduled_at))


@transaction.atomic
def reminder_update(*, reminder: Reminder, **fields) -> Reminder:
    """Change note or time. A sent reminder, or one being delivered right now, is a conflict.

    Editing a failed or cancelled reminder re-arms it (pending, attempts reset).
    """
    locked = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if locked.status == ReminderStatus.SENT:
        raise ReminderConflict("This reminder was already sent; create a new one instead.")
    if locked.delivery_started_at is not None and locked.status == ReminderStatus.PENDING:
        raise ReminderConflict("This reminder is being delivered right now; try again in a moment.")
    for name, value in fields.items():
        setattr(locked, name, value)
    if locked.status in (ReminderStatus.FAILED, ReminderStatus.CANCELLED):
        _rearm(locked)
    # A new time or note invalidates any claim a sweep holds on the old one.
    locked.claim_token, locked.claimed_at, locked.next_attempt_at = "", None, None
    locked.save()
    _follow_up_on_commit(locked)
    return locked


def _rearm(reminder: Reminder) -> None:
    reminder.status = ReminderStatus.PENDING
    reminder.attempts = 0
    reminder.last_error = ""
    reminder.delivery_started_at = None


@transaction.atomic
def reminder_delete(*, reminder: Reminder) -> None:
    reminder.delete()
