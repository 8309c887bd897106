"""Claiming and delivering due reminders: at most once, never silently lost.

How a reminder is sent at most once, and never silently lost
------------------------------------------------------------
1. Claim (`reminder_claim_due`): one statement per batch,
   `UPDATE ... SET claim_token=T, claimed_at=now WHERE id IN (SELECT id ... due,
   pending, unclaimed or lease expired ... LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING id`.
   On PostgreSQL, SKIP LOCKED lets two sweeps claim disjoint batches without
   waiting; on SQLite write transactions are serialized (BEGIN IMMEDIATE), so the
   second sweep's statement sees the first one's token and skips those rows.
2. Before sending a chunk (REMINDER_DELIVERY_CHUNK reminders, default 20), one
   conditional UPDATE stamps `delivery_started_at`
   `WHERE id IN (chunk) AND claim_token=T AND status='pending' AND delivery_started_at IS NULL
   RETURNING id`; only the returned ids are sent.
   Only one party can win it, so only one party can ever hand the email to the
   backend. A sweep whose claim was taken over (lease expired while it was slow),
   or whose reminder was cancelled, deleted or edited meanwhile, sees 0 rows and
   skips the reminder.
3. After the chunk, one UPDATE records the sent ones (a failed send is recorded
   at once: pending with attempts+1 and a backoff, or failed after
   REMINDER_MAX_ATTEMPTS) and clears the claim.

What a crash (worker killed, database gone) can and cannot do:
- Between claim and step 2: nothing was sent. The claim expires after
  REMINDER_CLAIM_LEASE_SECONDS and a later sweep claims and sends the reminder.
- Between step 2 and step 3 (the emails of that chunk may or may not have
  left): these reminders are NOT resent automatically, because that could send
  them twice. Once the lease
  has passed, the next sweep marks it `failed` with "delivery outcome unknown";
  an operator checks the mail log and uses the admin's "reset to pending" to send
  it again. The window is one chunk of SMTP calls long (REMINDER_DELIVERY_CHUNK=1
  makes it one call, at one more statement per reminder); rare, and never silent.
- A reminder can therefore not be sent twice by the sweep; the only way to send
  one again is an explicit reset (or "send now") by a person.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from common.text import truncate
from reminders.delivery import NoEmailAddress, reminder_message, reminder_send
from reminders.models import Reminder, ReminderStatus
from reminders.pacing import PERMANENT, TEMPORARY, SendPacer, smtp_refusal_kind
from reminders.selectors import reminder_claimable

logger = logging.getLogger("reminders.sweep")

#: Longest error kept on a reminder; tracebacks go to the worker log.
ERROR_MAX = 2000
#: Longest retry delay.
BACKOFF_CAP = timedelta(hours=6)
UNKNOWN_OUTCOME = (
    "Delivery outcome unknown: the sweep stopped while handing this reminder to the mail "
    "backend, so it was not resent (it could arrive twice). Check the mail log; use "
    "'Reset to pending' in the admin to send it again."
)

#: Fields that release a claim: the row is free for the next sweep again.
RELEASED_CLAIM = {"claim_token": "", "claimed_at": None, "delivery_started_at": None}


def reminder_claim_due(
    *, limit: int, now: datetime | None = None, only_ids: list[int] | None = None
) -> tuple[str, list[int]]:
    """Claim up to `limit` due, pending, unclaimed reminders in one statement.

    Returns (claim token, claimed ids). With `only_ids`, claims those reminders if
    pending and unclaimed, due or not ("send now").
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    if only_ids is None:
        candidates = reminder_claimable(now=now)
    else:
        candidates = reminder_claimable(now=now, due_only=False).filter(pk__in=only_ids)
    candidates = candidates.order_by("scheduled_at", "id").values("id")[:limit]
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        sub_sql, sub_params = candidates.query.sql_with_params()
        stamp = connection.ops.adapt_datetimefield_value(now)
        table = connection.ops.quote_name(Reminder._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET claim_token = %s, claimed_at = %s, updated_at = %s "
                f"WHERE id IN ({sub_sql}) RETURNING id",
                [token, stamp, stamp, *sub_params],
            )
            ids = [row[0] for row in cursor.fetchall()]
    return token, ids


def reminder_fail_abandoned(*, now: datetime | None = None) -> int:
    """Fail reminders whose delivery started but whose sweep died before recording it.

    They are not resent: the email may have left (see the module docstring).
    The claim token stays, so a slow sweep that did finish can still record `sent`.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS)
    changed = Reminder.objects.filter(status=ReminderStatus.PENDING, delivery_started_at__lt=cutoff).update(
        status=ReminderStatus.FAILED, last_error=UNKNOWN_OUTCOME, updated_at=now
    )
    if changed:
        logger.warning("%d reminder(s) failed: delivery outcome unknown after a crashed sweep", changed)
    return changed


def _backoff(attempts: int, *, temporary: bool = False) -> timedelta:
    seconds = settings.REMINDER_TEMPFAIL_BACKOFF_SECONDS if temporary else settings.REMINDER_RETRY_BACKOFF_SECONDS
    return min(timedelta(seconds=seconds) * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _record_failure(
    *,
    reminder: Reminder,
    token: str,
    error: str,
    retry: bool,
    sweep_now: datetime | None,
    temporary: bool = False,
) -> str:
    """Record a failed attempt; returns "retrying" or "failed".

    The backoff counts from the later of the wall clock and the sweep's `now`; a
    temporary SMTP refusal (4xx) backs off from REMINDER_TEMPFAIL_BACKOFF_SECONDS
    (a minute: the next tick), others from REMINDER_RETRY_BACKOFF_SECONDS.
    """
    now = timezone.now()
    if sweep_now and sweep_now > now:
        now = sweep_now
    attempts = reminder.attempts + 1
    final = not retry or attempts >= settings.REMINDER_MAX_ATTEMPTS
    Reminder.objects.filter(pk=reminder.pk, claim_token=token).update(
        status=ReminderStatus.FAILED if final else ReminderStatus.PENDING,
        attempts=F("attempts") + 1,
        last_error=truncate(error, ERROR_MAX),
        next_attempt_at=None if final else now + _backoff(attempts, temporary=temporary),
        **RELEASED_CLAIM,
        updated_at=now,
    )
    return "failed" if final else "retrying"


def _stamp_started(*, ids: list[int], token: str) -> set[int]:
    """Step 2 for a chunk, in one statement: returns the ids this sweep may now send."""
    if not ids:
        return set()
    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(Reminder._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET delivery_started_at = %s, updated_at = %s "
            f"WHERE id IN ({marks}) AND claim_token = %s AND status = %s AND delivery_started_at IS NULL "
            "RETURNING id",
            [stamp, stamp, *ids, token, ReminderStatus.PENDING],
        )
        return {row[0] for row in cursor.fetchall()}


def _record_sent(*, ids: list[int], token: str) -> int:
    if not ids:
        return 0
    now = timezone.now()
    return Reminder.objects.filter(pk__in=ids, claim_token=token).update(
        status=ReminderStatus.SENT,
        sent_at=now,
        attempts=F("attempts") + 1,
        last_error="",
        next_attempt_at=None,
        **RELEASED_CLAIM,
        updated_at=now,
    )


def reminder_deliver_chunk(
    *,
    reminders: list[Reminder],
    token: str,
    mail_connection,
    sweep_now: datetime | None = None,
    pacer: SendPacer | None = None,
) -> dict[int, str]:
    """Deliver claimed reminders; returns {id: "sent" | "retrying" | "failed" | "skipped"}.

    The start stamp (step 2) and the sent record (step 3) are one statement per
    chunk, so a crash inside a chunk leaves at most a chunk of reminders "outcome
    unknown" (failed, never resent); see the module docstring.

    Each send waits for its slot in the shared send-rate bucket (`pacer`). A
    temporary refusal (4xx, server unreachable) is retried in place, after a
    fresh connection, while the pacer's retry budget lasts: the server never
    accepted the message, so sending it again cannot duplicate it, and the
    reminders behind it keep their order. A permanent refusal (5xx) fails the
    reminder at once; anything else is retried with the ordinary backoff.
    """
    pacer = pacer or SendPacer()
    outcomes: dict[int, str] = {}
    messages = {}
    for reminder in reminders:
        logger.info(
            "Sending reminder %s for note %s to user %s",
            reminder.pk,
            reminder.note_id,
            reminder.user_id,
        )
        try:
            messages[reminder.pk] = reminder_message(reminder=reminder)
        except NoEmailAddress as exc:
            logger.warning("Reminder %s failed: %s", reminder.pk, exc)
            outcomes[reminder.pk] = _record_failure(
                reminder=reminder, token=token, error=str(exc), retry=False, sweep_now=sweep_now
            )
    started = _stamp_started(ids=list(messages), token=token)
    sent: list[int] = []
    try:
        for reminder in reminders:
            if reminder.pk not in messages:
                continue
            if reminder.pk not in started:
                logger.info("Reminder %s skipped: changed, cancelled or claimed elsewhere meanwhile", reminder.pk)
                outcomes[reminder.pk] = "skipped"
                continue
            outcome = _send_paced(reminder, messages[reminder.pk], mail_connection, pacer, token, sweep_now)
            if outcome == "sent":
                sent.append(reminder.pk)
            outcomes[reminder.pk] = outcome
    finally:
        # Also on the way out of an unexpected error: what left is recorded as sent.
        recorded = _record_sent(ids=sent, token=token)
    if recorded != len(sent):
        logger.warning("%d sent reminder(s) had gone (note or user deleted meanwhile)", len(sent) - recorded)
    return outcomes


def _reset_connection(mail_connection) -> None:
    """Drop a connection a refusal may have left half-open; the next send opens a fresh one."""
    try:
        mail_connection.close()
    except Exception:  # a broken SMTP session may not even QUIT cleanly
        logger.debug("mail connection close failed", exc_info=True)


def _send_paced(reminder, message, mail_connection, pacer: SendPacer, token: str, sweep_now) -> str:
    """Send one started reminder at the shared rate; returns its outcome (see reminder_deliver_chunk)."""
    while True:
        pacer.wait_turn()
        try:
            reminder_send(message=message, connection=mail_connection)
        except Exception as exc:  # any backend error is a delivery error; the sweep goes on
            error = f"{type(exc).__name__}: {exc}".strip()
            kind = smtp_refusal_kind(exc)
            if kind == TEMPORARY:
                _reset_connection(mail_connection)
                delay = pacer.retry_after_temporary()
                if delay is not None:
                    logger.info("Reminder %s: temporary refusal (%s), retrying in %.1f s", reminder.pk, error, delay)
                    time.sleep(delay)
                    continue
            outcome = _record_failure(
                reminder=reminder,
                token=token,
                error=error,
                retry=kind != PERMANENT,
                sweep_now=sweep_now,
                temporary=kind == TEMPORARY,
            )
            logger.warning("Failed to send reminder %s (%s, %s refusal): %s", reminder.pk, outcome, kind, error)
            pacer.last_error = error
            pacer.send_failures += 1
            return outcome
        pacer.delivered()
        return "sent"


def reminder_deliver_claimed(
    *, reminder: Reminder, token: str, mail_connection, sweep_now: datetime | None = None, pacer=None
) -> str:
    """Deliver one claimed reminder; returns "sent", "retrying", "failed" or "skipped"."""
    return reminder_deliver_chunk(
        reminders=[reminder], token=token, mail_connection=mail_connection, sweep_now=sweep_now, pacer=pacer
    )[reminder.pk]


@dataclass
class SweepResult:
    due: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_result(self) -> dict:
        """The BackgroundJob's result_data. `failed` counts every failed attempt, of
        which `retrying` stay pending for a later sweep."""
        data = {"due": self.due, "sent": self.sent, "failed": self.failed, "retrying": self.retrying}
        if self.skipped:
            data["skipped_reminders"] = self.skipped
        if self.reason:
            data["skipped"] = self.reason
        return data


def deliver_batch(
    reminders: list[Reminder], token: str, result: SweepResult, keep_alive, sweep_now=None, pacer=None
) -> None:
    """Deliver a claimed batch over one mail connection, chunk by chunk, counting outcomes into `result`.

    Pass the run's `pacer` so its retry budget spans every batch of the run.
    """
    pacer = pacer or SendPacer()
    mail = get_connection(fail_silently=False)
    try:
        mail.open()
    except Exception as exc:  # each send below retries the open and records its error
        logger.warning("Could not open the mail connection: %s", exc)
    try:
        chunk_size = settings.REMINDER_DELIVERY_CHUNK
        for start in range(0, len(reminders), chunk_size):
            outcomes = reminder_deliver_chunk(
                reminders=reminders[start : start + chunk_size],
                token=token,
                mail_connection=mail,
                sweep_now=sweep_now,
                pacer=pacer,
            )
            for outcome in outcomes.values():
                if outcome == "sent":
                    result.sent += 1
                elif outcome == "skipped":
                    result.skipped += 1
                else:
                    result.failed += 1
                    result.retrying += outcome == "retrying"
            keep_alive()
    finally:
        try:
            mail.close()
        except Exception:  # closing a broken SMTP connection must not lose the results
            logger.debug("mail connection close failed", exc_info=True)
