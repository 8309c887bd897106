"""The sweep's services directly: claim, delivery outcomes, retries, crash recovery."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notes.models import Note
from reminders import services
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


def test_sweep_sends_due_reminder_once_with_title_and_excerpt(make_due, user, note):
    (reminder,) = make_due(1)
    result = services.reminders_sweep()
    assert (result.due, result.sent, result.failed) == (1, 1, 0)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Buy milk"
    assert message.to == ["alice@example.com"]
    assert "Two litres, semi-skimmed." in message.body
    assert "due " in message.body
    row = Reminder.objects.get(pk=reminder.pk)
    assert row.status == ReminderStatus.SENT and row.sent_at and row.attempts == 1
    assert (row.claim_token, row.claimed_at, row.delivery_started_at) == ("", None, None)
    # A second sweep finds nothing.
    assert services.reminders_sweep().sent == 0
    assert len(mail.outbox) == 1


def test_sweep_logs_the_old_lines(make_due, caplog):
    (reminder,) = make_due(1)
    caplog.set_level("INFO", logger="reminders.sweep")
    services.reminders_sweep()
    lines = [r.getMessage() for r in caplog.records if r.name == "reminders.sweep"]
    assert lines == [
        "Checking for due reminders...",
        "Found 1 due reminders",
        f"Sending reminder {reminder.pk} for note {reminder.note_id} to user {reminder.user_id}",
        "Reminder processing complete: 1 sent, 0 failed",
    ]


def test_future_and_non_pending_reminders_are_not_sent(user, note):
    now = timezone.now()
    Reminder.objects.create(user=user, note=note, scheduled_at=now + timedelta(minutes=5))
    for state in (ReminderStatus.SENT, ReminderStatus.FAILED, ReminderStatus.CANCELLED):
        Reminder.objects.create(user=user, note=note, scheduled_at=now - timedelta(hours=1), status=state, sent_at=now)
    assert services.reminders_sweep().due == 0
    assert mail.outbox == []


def test_user_without_email_ends_failed_with_reason(django_user_model):
    nomail = django_user_model.objects.create_user(username="carol", email="", password="pw-carol-123")
    note = Note.objects.create(user=nomail, title="t")
    reminder = Reminder.objects.create(user=nomail, note=note, scheduled_at=timezone.now())
    result = services.reminders_sweep()
    assert (result.sent, result.failed, result.retrying) == (0, 1, 0)
    row = Reminder.objects.get(pk=reminder.pk)
    assert row.status == ReminderStatus.FAILED
    assert "has no email address" in row.last_error
    assert mail.outbox == []


def test_smtp_down_then_recovery_sends_once(make_due, settings):
    (reminder,) = make_due(1)
    settings.EMAIL_BACKEND = "reminders.tests.backends.DownBackend"
    # A 421 is a temporary refusal: no in-place retry here, and its backoff set long.
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 0
    settings.REMINDER_TEMPFAIL_BACKOFF_SECONDS = 300
    result = services.reminders_sweep()
    assert (result.sent, result.failed, result.retrying) == (0, 1, 1)
    row = Reminder.objects.get(pk=reminder.pk)
    assert row.status == ReminderStatus.PENDING and row.attempts == 1
    assert "SMTPConnectError" in row.last_error and "service not available" in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(minutes=4)
    assert row.claim_token == "" and row.delivery_started_at is None

    # Backoff: a sweep right now does not retry it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.reminders_sweep().due == 0
    # After the backoff the next sweep sends it, once.
    later = timezone.now() + timedelta(minutes=6)
    result = services.reminders_sweep(now=later)
    assert result.sent == 1
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.status == ReminderStatus.SENT and row.attempts == 2 and row.last_error == ""


def test_backoff_doubles_and_max_attempts_end_failed(make_due, settings):
    (reminder,) = make_due(1)
    settings.EMAIL_BACKEND = "reminders.tests.backends.DownBackend"
    settings.REMINDER_MAX_ATTEMPTS = 3
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 0
    settings.REMINDER_TEMPFAIL_BACKOFF_SECONDS = 60
    now = timezone.now()
    delays = []
    for _ in range(2):
        services.reminders_sweep(now=now)
        row = Reminder.objects.get(pk=reminder.pk)
        delays.append(round((row.next_attempt_at - now).total_seconds() / 60))
        now = row.next_attempt_at + timedelta(seconds=1)
    assert delays == [1, 2]
    result = services.reminders_sweep(now=now)
    assert (result.failed, result.retrying) == (1, 0)
    row = Reminder.objects.get(pk=reminder.pk)
    assert row.status == ReminderStatus.FAILED and row.attempts == 3
    assert services.reminders_sweep(now=now + timedelta(days=1)).due == 0


def test_claims_are_disjoint_and_expire_after_the_lease(make_due, settings):
    make_due(5)
    now = timezone.now()
    token_a, first = services.reminder_claim_due(limit=3, now=now)
    token_b, second = services.reminder_claim_due(limit=3, now=now)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert services.reminder_claim_due(limit=3, now=now)[1] == []
    # The sweep that claimed `first` died before sending anything: after the lease
    # they are claimed again and sent.
    later = now + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS + 1)
    token_c, again = services.reminder_claim_due(limit=10, now=later)
    assert sorted(again) == sorted(first + second)
    assert token_c not in (token_a, token_b)


def test_crash_after_claim_is_retried_and_sent_once(make_due, settings):
    reminders = make_due(3)
    now = timezone.now()
    services.reminder_claim_due(limit=10, now=now)  # the crashed sweep's claim
    assert services.reminders_sweep(now=now).sent == 0  # held by the lease
    later = now + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS + 1)
    assert services.reminders_sweep(now=later).sent == 3
    assert sorted(int(m.extra_headers["X-Scribes-Reminder"]) for m in mail.outbox) == sorted(r.pk for r in reminders)


def test_crash_during_delivery_is_failed_as_unknown_not_resent(make_due, settings):
    (reminder,) = make_due(1)
    now = timezone.now()
    token, _ = services.reminder_claim_due(limit=10, now=now)
    # The dead sweep had stamped delivery_started_at: the email may have left.
    Reminder.objects.filter(pk=reminder.pk).update(delivery_started_at=now)
    later = now + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS + 1)
    result = services.reminders_sweep(now=later)
    assert result.sent == 0 and mail.outbox == []
    row = Reminder.objects.get(pk=reminder.pk)
    assert row.status == ReminderStatus.FAILED
    assert row.last_error == services.UNKNOWN_OUTCOME
    # A person decides to resend it.
    assert services.reminders_reset_pending(reminders=Reminder.objects.filter(pk=reminder.pk)) == 1
    assert services.reminders_sweep(now=later).sent == 1


def test_taken_over_claim_is_not_delivered_by_the_slow_sweep(make_due, settings):
    (reminder,) = make_due(1)
    now = timezone.now()
    old_token, _ = services.reminder_claim_due(limit=10, now=now)
    later = now + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS + 1)
    new_token, ids = services.reminder_claim_due(limit=10, now=later)
    assert ids == [reminder.pk]
    loaded = Reminder.objects.select_related("note", "user").get(pk=reminder.pk)
    from django.core.mail import get_connection

    slow = services.reminder_deliver_claimed(reminder=loaded, token=old_token, mail_connection=get_connection())
    fast = services.reminder_deliver_claimed(reminder=loaded, token=new_token, mail_connection=get_connection())
    assert (slow, fast) == ("skipped", "sent")
    assert len(mail.outbox) == 1


def test_deleted_note_cascades_and_a_delete_mid_sweep_sends_nothing(make_due, note, user):
    (gone,) = make_due(1)
    other = Note.objects.create(user=user, title="Other")
    (racing,) = make_due(1, on_note=other)
    note.delete()  # CASCADE: the reminder is gone with its note
    assert not Reminder.objects.filter(pk=gone.pk).exists()

    token, ids = services.reminder_claim_due(limit=10)
    assert ids == [racing.pk]
    loaded = Reminder.objects.select_related("note", "user").get(pk=racing.pk)
    other.delete()  # deleted between claim and delivery
    from django.core.mail import get_connection

    outcome = services.reminder_deliver_claimed(reminder=loaded, token=token, mail_connection=get_connection())
    assert outcome == "skipped" and mail.outbox == []


def test_cancel_between_claim_and_delivery_wins(make_due):
    (reminder,) = make_due(1)
    token, _ = services.reminder_claim_due(limit=10)
    assert services.reminders_cancel(reminders=Reminder.objects.all()) == 1
    loaded = Reminder.objects.select_related("note", "user").get(pk=reminder.pk)
    from django.core.mail import get_connection

    assert services.reminder_deliver_claimed(reminder=loaded, token=token, mail_connection=get_connection()) == (
        "skipped"
    )
    assert mail.outbox == []
    assert Reminder.objects.get(pk=reminder.pk).status == ReminderStatus.CANCELLED


def test_timezone_edges_due_exactly_now_and_offsets(user, note):
    now = timezone.now().replace(microsecond=0)
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    exactly = Reminder.objects.create(user=user, note=note, scheduled_at=now)
    # 09:00 in Tokyo one second after `now` is still in the future in UTC terms.
    later = Reminder.objects.create(user=user, note=note, scheduled_at=(now + timedelta(seconds=1)).astimezone(tokyo))
    result = services.reminders_sweep(now=now)
    assert result.sent == 1
    assert Reminder.objects.get(pk=exactly.pk).status == ReminderStatus.SENT
    assert Reminder.objects.get(pk=later.pk).status == ReminderStatus.PENDING
    assert services.reminders_sweep(now=now + timedelta(seconds=1)).sent == 1


def test_batches_use_constant_queries(make_due, settings, django_assert_max_num_queries):
    settings.REMINDER_BATCH_SIZE = 50
    settings.REMINDER_DELIVERY_CHUNK = 10
    make_due(200)
    # Per sweep: abandoned + count. Per claim (4 batches + the empty one): the
    # statement in a savepoint (3). Per batch: one load. Per chunk of 10: start
    # stamp in a savepoint (3) + sent record (1). Nothing per reminder.
    with django_assert_max_num_queries(2 + 5 * 3 + 4 + 20 * 4):
        result = services.reminders_sweep()
    assert result.sent == 200 and len(mail.outbox) == 200


def test_send_now_delivers_selected_even_if_not_due(user, note):
    future = Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(days=3))
    result = services.reminders_send_now(reminders=Reminder.objects.filter(pk=future.pk))
    assert result.sent == 1 and len(mail.outbox) == 1
    assert services.reminders_send_now(reminders=Reminder.objects.filter(pk=future.pk)).sent == 0
    assert len(mail.outbox) == 1
