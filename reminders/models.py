"""Reminder rows (one email per reminder) and the per-slot record of sweep runs."""

from django.conf import settings
from django.db import models


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Reminder(models.Model):
    """A reminder to email `user` about `note` at `scheduled_at`.

    Deleting the note (or the user) deletes its reminders (CASCADE): there is
    nothing left to remind about. The `claim_*` and `delivery_started_at` fields
    belong to the sweep (see `reminders.services.claims`), never to the API.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    note = models.ForeignKey("notes.Note", on_delete=models.CASCADE, related_name="reminders")
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    #: Not before this time (retry backoff); empty means "as soon as due".
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: Which sweep batch holds the reminder, and since when (the lease).
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    #: Set right before the email is handed to the backend; an outcome clears it.
    delivery_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            # "due and pending": the sweep's claim scans status='pending' by time.
            models.Index(fields=["status", "scheduled_at"], name="reminder_due_pending_idx"),
            # a user's reminders, soonest first (the API list)
            models.Index(fields=["user", "scheduled_at"], name="reminder_user_sched_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ReminderStatus.values), name="reminder_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status=ReminderStatus.SENT) | models.Q(sent_at__isnull=False),
                name="reminder_sent_has_sent_at",
            ),
        ]

    def __str__(self):
        return f"Reminder {self.pk} for note {self.note_id} at {self.scheduled_at:%Y-%m-%d %H:%M} ({self.status})"


class ReminderSweepSlot(models.Model):
    """One row per cron slot a periodic sweep ran for: the per-tick guard.

    rq-scheduler re-enqueues the one fixed-id job every tick; copies that pile up
    while no worker runs, or a second scheduler's copy, find their slot taken
    (unique constraint) and do nothing.
    """

    slot = models.DateTimeField(unique=True)
    background_job = models.ForeignKey("jobs.BackgroundJob", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-slot"]

    def __str__(self):
        return f"sweep slot {self.slot:%Y-%m-%d %H:%M}"
