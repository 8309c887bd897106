"""The polite mailer against a real SMTP server and a real Redis: the shared send rate, 4xx retried, 5xx failed.

The issue's full size (2,000 reminders at REMINDER_SEND_RATE=100, a 20 s
refusal) takes about a minute; the suite runs a fifth of it
(SCRIBES_PACING_FULL=1 runs the full size).
"""

from __future__ import annotations

import os
import smtplib
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from notes.models import Note
from reminders import services
from reminders.models import Reminder, ReminderStatus
from reminders.pacing import PERMANENT, TEMPORARY, SendPacer, smtp_refusal_kind
from reminders.tests.smtpserver import busiest_second, smtp_server

FULL = os.environ.get("SCRIBES_PACING_FULL") == "1"
COUNT = 2000 if FULL else 400
REFUSAL_SECONDS = 20.0 if FULL else 4.0
RATE = 100


@pytest.fixture
def smtp(settings):
    with smtp_server() as (handler, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_TIMEOUT = 5
        yield handler


def _due_within_a_minute(user, count: int) -> list[int]:
    """`count` reminders due over the last minute, in a shuffled creation order (ids do not follow time)."""
    note = Note.objects.create(user=user, title="Stand-up", content="Notes for the daily stand-up.")
    start = timezone.now() - timedelta(minutes=1)
    offsets = [(i * 7919) % count for i in range(count)]  # a permutation: 7919 is prime
    Reminder.objects.bulk_create(
        [
            Reminder(user=user, note=note, scheduled_at=start + timedelta(milliseconds=offset * 60_000 // count))
            for offset in offsets
        ]
    )
    return list(Reminder.objects.order_by("scheduled_at", "id").values_list("id", flat=True))


def _assert_all_sent_once_in_order(smtp, expected: list[int]) -> None:
    received = smtp.ids()
    twice = [pk for pk, n in Counter(received).items() if n > 1]
    assert twice == [], f"{len(twice)} reminders sent twice"
    assert received == expected  # every one, in order of scheduled_at
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == len(expected)


@pytest.mark.django_db
@pytest.mark.timeout(180)
def test_a_minute_of_reminders_goes_out_at_the_send_rate_once_each_in_order(user, smtp, redis_conn, settings):
    settings.REMINDER_SEND_RATE = RATE
    expected = _due_within_a_minute(user, COUNT)
    started = time.monotonic()
    result = services.reminders_sweep()
    elapsed = time.monotonic() - started
    assert (result.sent, result.failed) == (COUNT, 0)
    _assert_all_sent_once_in_order(smtp, expected)
    busiest = busiest_second(smtp.times())
    print(f"\n{COUNT} reminders at REMINDER_SEND_RATE={RATE}: {elapsed:.1f} s, busiest second {busiest}")
    # One bucket token at a time: sends are at least 1/rate apart, so any one-second
    # window holds at most `rate` of them (+1 for loopback jitter in the receive stamps).
    assert busiest <= RATE + 1
    assert elapsed >= (COUNT - 1) / RATE


@pytest.mark.django_db
@pytest.mark.timeout(240)
def test_a_temporary_refusal_is_retried_within_the_run_and_nothing_is_sent_twice(user, smtp, redis_conn, settings):
    settings.REMINDER_SEND_RATE = RATE
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = REFUSAL_SECONDS + 20
    expected = _due_within_a_minute(user, COUNT)
    refusal_started = time.monotonic()
    smtp.refuse_until = refusal_started + REFUSAL_SECONDS
    result = services.reminders_sweep()
    elapsed = time.monotonic() - refusal_started
    assert (result.sent, result.failed, result.retrying) == (COUNT, 0, 0)
    assert smtp.refused >= 3  # it did refuse, several times (1 s doubling to 8 s apart)
    _assert_all_sent_once_in_order(smtp, expected)
    assert min(smtp.times()) >= smtp.refuse_until
    assert busiest_second(smtp.times()) <= RATE + 1
    print(f"\n{COUNT} reminders, {REFUSAL_SECONDS:.0f} s of 451: all sent in {elapsed:.1f} s, {smtp.refused} refusals")
    # The retry delay is at most 8 s and the rest go at the rate.
    assert elapsed < REFUSAL_SECONDS + 8 + COUNT / RATE + 5


@pytest.mark.django_db
def test_a_refusal_outlasting_the_budget_waits_a_minute_then_the_next_tick_sends(user, smtp, redis_conn, settings):
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 0
    settings.REMINDER_TEMPFAIL_BACKOFF_SECONDS = 60
    settings.REMINDER_RETRY_BACKOFF_SECONDS = 300
    expected = _due_within_a_minute(user, 3)
    smtp.refuse_until = time.monotonic() + 3600
    result = services.reminders_sweep()
    assert (result.sent, result.retrying) == (0, 3)
    for row in Reminder.objects.all():
        assert row.status == ReminderStatus.PENDING and row.attempts == 1
        assert "451" in row.last_error
        # The temporary backoff (a minute), not the 5-minute one.
        assert timedelta(seconds=50) < row.next_attempt_at - timezone.now() <= timedelta(seconds=60)
    smtp.refuse_until = 0
    result = services.reminders_sweep(now=timezone.now() + timedelta(seconds=61))
    assert result.sent == 3
    _assert_all_sent_once_in_order(smtp, expected)


@pytest.mark.django_db
def test_a_permanent_refusal_fails_at_once_and_the_others_go(user, smtp, redis_conn, settings):
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 30
    expected = _due_within_a_minute(user, 5)
    smtp.refuse_ids = {expected[1]}
    smtp.refusal = "550 5.1.1 Mailbox unavailable"
    started = time.monotonic()
    result = services.reminders_sweep()
    assert time.monotonic() - started < 5  # no retry wait for a 5xx
    assert (result.sent, result.failed, result.retrying) == (4, 1, 0)
    refused = Reminder.objects.get(pk=expected[1])
    assert refused.status == ReminderStatus.FAILED and refused.attempts == 1
    assert "550" in refused.last_error and refused.next_attempt_at is None
    assert smtp.ids() == [pk for pk in expected if pk != expected[1]]


@pytest.mark.django_db
@pytest.mark.timeout(60)
def test_an_unreachable_server_is_temporary_and_retried_within_the_run(user, redis_conn, settings):
    """Connection refused (the relay restarting) counts as temporary: retried until it listens."""
    from aiosmtpd.controller import Controller

    from reminders.tests.smtpserver import RecordingHandler, free_port

    handler, port = RecordingHandler(), free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 20
    expected = _due_within_a_minute(user, 2)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    later = threading.Timer(2.5, controller.start)
    later.start()
    try:
        started = time.monotonic()
        result = services.reminders_sweep()
        assert result.sent == 2 and result.failed == 0
        assert handler.ids() == expected
        assert time.monotonic() - started >= 2.5
    finally:
        later.join()
        controller.stop()


def test_smtp_refusals_are_classified_by_code():
    assert smtp_refusal_kind(smtplib.SMTPDataError(451, b"try later")) == TEMPORARY
    assert smtp_refusal_kind(smtplib.SMTPSenderRefused(421, b"busy", "a@b")) == TEMPORARY
    assert smtp_refusal_kind(smtplib.SMTPConnectError(421, b"not available")) == TEMPORARY
    assert smtp_refusal_kind(smtplib.SMTPDataError(554, b"rejected")) == PERMANENT
    assert smtp_refusal_kind(smtplib.SMTPAuthenticationError(535, b"bad password")) == PERMANENT
    assert smtp_refusal_kind(smtplib.SMTPRecipientsRefused({"a@b": (450, b"greylisted")})) == TEMPORARY
    assert smtp_refusal_kind(smtplib.SMTPRecipientsRefused({"a@b": (550, b"no such user")})) == PERMANENT
    assert smtp_refusal_kind(ConnectionRefusedError(111, "Connection refused")) == TEMPORARY
    assert smtp_refusal_kind(smtplib.SMTPServerDisconnected("gone")) == TEMPORARY
    assert smtp_refusal_kind(RuntimeError("backend bug")) == "other"


@pytest.mark.timeout(60)
def test_the_bucket_is_shared_by_every_sender(redis_conn):
    """Two pacers (two workers) on one Redis together keep one rate, not one each."""
    rate, per_sender = 40, 40
    stamps: list[float] = []
    lock = threading.Lock()

    def sender():
        pacer = SendPacer(rate=rate, connection=redis_conn)
        for _ in range(per_sender):
            pacer.wait_turn()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=sender) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(stamps) == 2 * per_sender
    assert busiest_second(stamps) <= rate + 1
    assert elapsed >= (2 * per_sender - 1) / rate - 0.05


def test_without_redis_a_pacer_keeps_the_rate_for_its_own_process():
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    pacer = SendPacer(rate=50, connection=dead)
    started = time.monotonic()
    for _ in range(26):
        pacer.wait_turn()
    assert time.monotonic() - started >= 25 / 50 - 0.02


def test_a_retry_budget_that_could_outlast_the_claim_lease_is_a_startup_error(settings):
    from reminders.checks import E003, check_tempfail_retry

    assert check_tempfail_retry(None) == []
    settings.REMINDER_CLAIM_LEASE_SECONDS = 60
    settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 40
    (error,) = check_tempfail_retry(None)
    assert error.id == E003 and "REMINDER_CLAIM_LEASE_SECONDS=60" in error.msg
