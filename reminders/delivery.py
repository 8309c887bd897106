"""Turning one reminder into one email, sent through Django's EMAIL_BACKEND."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage

from reminders.models import Reminder

#: Characters of the note body quoted in the email.
EXCERPT_LENGTH = 280


class NoEmailAddress(Exception):
    """The reminder's user has no address; retrying cannot help."""


def note_excerpt(content: str, length: int = EXCERPT_LENGTH) -> str:
    text = " ".join(content.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def reminder_message(*, reminder: Reminder) -> EmailMessage:
    """The email for `reminder` (its note and user must be loaded)."""
    user = reminder.user
    if not (user.email or "").strip():
        raise NoEmailAddress(f"User {user.pk} ({user.get_username()}) has no email address.")
    note = reminder.note
    due = reminder.scheduled_at.strftime("%Y-%m-%d %H:%M %Z")
    excerpt = note_excerpt(note.content) or "(this note is empty)"
    body = f"Reminder for your note “{note.title}”, due {due}.\n\n{excerpt}\n"
    return EmailMessage(
        # Titles are checked at the API, but one written before that check (or by
        # the admin) must not make every attempt fail with BadHeaderError.
        subject=" ".join(note.title.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email.strip()],
        headers={"X-Scribes-Reminder": str(reminder.pk)},
    )


def reminder_send(*, message: EmailMessage, connection) -> None:
    """Hand `message` to the mail backend; raises on any delivery error."""
    if connection.send_messages([message]) != 1:
        raise RuntimeError("The mail backend accepted no message.")
