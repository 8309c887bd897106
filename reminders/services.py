"""Writes on reminders: the API's CRUD, the due-reminder sweep, and the admin actions.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from reminders.delivery import NoEmailAddress, reminder_message, reminder_send
from reminders.follow_ups import sweep_follow_up_request
from reminders.models import Reminder, ReminderStatus, ReminderSweepSlot
from reminders.selectors import reminder_claimable, reminder_due_count, reminder_sweep_outlook
from scribes.text import truncate

logger = logging.getLogger("reminders.sweep")

#: Longest error kept on a reminder; tracebacks go to the worker log.
ERROR_MAX = 2000
#: Longest retry delay.
BACKOFF_CAP = timedelta(hours=6)
SWEEP_LOCK_KEY = "scribes:reminders:sweep-lock"
#: How long a taken cron slot is kept: long enough for any late copy of its tick.
SLOT_RETENTION = timedelta(days=1)
UNKNOWN_OUTCOME = (
    "Delivery outcome unknown: the sweep stopped while handing this reminder to the mail "
    "backend, so it was not resent (it could arrive twice). Check the mail log; use "
    "'Reset to pending' in the admin to send it again."
)


class ReminderConflict(Exception):
    """The reminder cannot be changed in its current state (the API answers 409)."""


#: Fields that release a claim: the row is free for the next sweep again.
RELEASED_CLAIM = {"claim_token": "", "claimed_at": None, "delivery_started_at": None}


# --- API ---------------------------------------------------------------------------


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


# --- the sweep -----------------------------------------------------------------------


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


def _backoff(attempts: int) -> timedelta:
    base = timedelta(seconds=settings.REMINDER_RETRY_BACKOFF_SECONDS)
    return min(base * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _record_failure(*, reminder: Reminder, token: str, error: str, retry: bool, sweep_now: datetime | None) -> str:
    """Record a failed attempt; returns "retrying" or "failed".

    The backoff counts from the later of the wall clock and the sweep's `now`.
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
        next_attempt_at=None if final else now + _backoff(attempts),
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
    *, reminders: list[Reminder], token: str, mail_connection, sweep_now: datetime | None = None
) -> dict[int, str]:
    """Deliver claimed reminders; returns {id: "sent" | "retrying" | "failed" | "skipped"}.

    The start stamp (step 2) and the sent record (step 3) are one statement per
    chunk, so a crash inside a chunk leaves at most a chunk of reminders "outcome
    unknown" (failed, never resent); see the module docstring.
    """
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
            try:
                reminder_send(message=messages[reminder.pk], connection=mail_connection)
            except Exception as exc:  # any backend error is a delivery error; the sweep goes on
                error = f"{type(exc).__name__}: {exc}".strip()
                outcome = _record_failure(reminder=reminder, token=token, error=error, retry=True, sweep_now=sweep_now)
                logger.warning("Failed to send reminder %s (%s): %s", reminder.pk, outcome, error)
                outcomes[reminder.pk] = outcome
                continue
            sent.append(reminder.pk)
            outcomes[reminder.pk] = "sent"
    finally:
        # Also on the way out of an unexpected error: what left is recorded as sent.
        recorded = _record_sent(ids=sent, token=token)
    if recorded != len(sent):
        logger.warning("%d sent reminder(s) had gone (note or user deleted meanwhile)", len(sent) - recorded)
    return outcomes


def reminder_deliver_claimed(
    *, reminder: Reminder, token: str, mail_connection, sweep_now: datetime | None = None
) -> str:
    """Deliver one claimed reminder; returns "sent", "retrying", "failed" or "skipped"."""
    return reminder_deliver_chunk(
        reminders=[reminder], token=token, mail_connection=mail_connection, sweep_now=sweep_now
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


def _deliver_batch(reminders: list[Reminder], token: str, result: SweepResult, keep_alive, sweep_now=None) -> None:
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


def reminders_sweep(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_alive: Callable[[], None] | None = None,
) -> SweepResult:
    """Claim and deliver every reminder due at `now`, batch by batch.

    `now` is fixed for the whole run, so the loop ends: claimed reminders keep a
    fresh claim and retried ones move their next attempt past `now`.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.REMINDER_BATCH_SIZE
    keep_alive = keep_alive or (lambda: None)
    logger.info("Checking for due reminders...")
    reminder_fail_abandoned(now=now)
    result = SweepResult(due=reminder_due_count(now=now))
    logger.info("Found %d due reminders", result.due)
    processed = 0
    while True:
        token, ids = reminder_claim_due(limit=batch_size, now=now)
        if not ids:
            break
        batch = list(Reminder.objects.filter(pk__in=ids, claim_token=token).select_related("note", "user"))
        batch.sort(key=lambda r: (r.scheduled_at, r.pk))
        _deliver_batch(batch, token, result, keep_alive, sweep_now=now)
        processed += len(ids)
        if progress:
            progress(processed, max(result.due, processed))
    logger.info("Reminder processing complete: %d sent, %d failed", result.sent, result.failed)
    return result


class _SweepLock:
    """The no-overlap guard: a Redis lock with a TTL that a live sweep keeps extending.

    A killed sweep stops extending it, so the next sweep may run at most
    REMINDER_SWEEP_LOCK_TTL seconds later. Even without it two sweeps would be
    safe (claims are disjoint); the lock only keeps them from racing for nothing.
    """

    def __init__(self):
        from jobs.selectors import rq_connection

        self.ttl = settings.REMINDER_SWEEP_LOCK_TTL
        self.lock = rq_connection().lock(SWEEP_LOCK_KEY, timeout=self.ttl, blocking=False, thread_local=False)
        self.held = False
        self.extended = time.monotonic()

    def acquire(self) -> bool:
        self.held = bool(self.lock.acquire(blocking=False))
        self.extended = time.monotonic()
        return self.held

    def keep_alive(self) -> None:
        if self.held and time.monotonic() - self.extended > self.ttl / 3:
            try:
                self.lock.reacquire()
            except Exception as exc:  # a lost lock is logged; the claims still keep sends unique
                logger.warning("Could not extend the sweep lock: %s", exc)
            self.extended = time.monotonic()

    def release(self) -> None:
        if self.held:
            try:
                self.lock.release()
            except Exception as exc:  # expired or Redis gone: nothing to release
                logger.warning("Could not release the sweep lock: %s", exc)
            self.held = False


def reminder_sweep_slot_take(*, slot: datetime, background_job=None) -> bool:
    """The per-tick guard: True for the first sweep of `slot`, False for every later copy.

    Taking a slot also deletes slots older than SLOT_RETENTION: only recent
    slots can still see a late copy, and a sweep a minute must not grow the
    table without bound. Ticks with nothing due take no slot at all.
    """
    try:
        with transaction.atomic():
            ReminderSweepSlot.objects.create(slot=slot, background_job=background_job)
    except IntegrityError:
        return False
    ReminderSweepSlot.objects.filter(slot__lt=slot - SLOT_RETENTION).delete()
    return True


def reminder_sweep_run(
    *,
    slot: datetime | None = None,
    background_job=None,
    progress: Callable[[int, int], None] | None = None,
    horizon: datetime | None = None,
) -> dict:
    """One guarded sweep: no overlap with a running sweep, at most one per cron `slot`.

    Without `slot` (manual runs, follow-ups) only the overlap guard applies.
    Returns the BackgroundJob's result_data; a skipped run says why under
    "skipped". A tick with nothing due stops after one indexed query (the sweep
    runs every minute by default): no lock, no slot, no claim. With `horizon`,
    the result's "next_due" (a datetime, for the caller to act on) is when a
    reminder comes due before `horizon`, if one does: the same query answers it
    on an empty tick, one more after a sweep.
    """
    now = timezone.now()
    first = reminder_sweep_outlook(now=now, horizon=horizon or now)
    if first is None or first > now:
        logger.info("Found 0 due reminders")
        return {**SweepResult().as_result(), **({"next_due": first} if first else {})}
    try:
        lock = _SweepLock()
        acquired = lock.acquire()
    except RedisError as exc:
        # Claims alone keep sends unique; run unguarded rather than not at all.
        logger.warning("Sweep lock unavailable (Redis: %s); sweeping without the overlap guard", exc)
        lock, acquired = None, True
    if not acquired:
        logger.info("Skipping reminder sweep: another sweep is still running")
        return SweepResult(reason="another sweep is still running").as_result()
    try:
        if slot is not None and not reminder_sweep_slot_take(slot=slot, background_job=background_job):
            logger.info("Skipping reminder sweep: the slot %s was already swept", slot.isoformat())
            return SweepResult(reason=f"slot {slot.isoformat()} already swept").as_result()
        result = reminders_sweep(progress=progress, keep_alive=lock.keep_alive if lock else None).as_result()
    finally:
        if lock:
            lock.release()
    if horizon is not None:
        first = reminder_sweep_outlook(now=timezone.now(), horizon=horizon)
        if first is not None:
            result["next_due"] = first
    return result


# --- admin actions ---------------------------------------------------------------------


def _audit(*, by, source: str, action: str, ids: list[int], count: int, detail: str) -> None:
    from jobs.audit import operator_action_record

    target = "reminders:" + ",".join(str(pk) for pk in ids[:40]) + ("…" if len(ids) > 40 else "")
    operator_action_record(actor=by, source=source, action=action, target=target, count=count, detail=detail)


def reminders_send_now(*, reminders: QuerySet[Reminder], by=None, source: str = "admin") -> SweepResult:
    """Deliver the selected pending reminders now, due or not, through the sweep's claim. Audited."""
    ids = list(reminders.filter(status=ReminderStatus.PENDING).values_list("pk", flat=True))
    result = SweepResult(due=len(ids))
    try:
        _send_now(ids, result)
    finally:
        _audit(
            by=by,
            source=source,
            action="reminders_send_now",
            ids=ids,
            count=result.sent,
            detail=f"{result.sent} sent, {result.failed} failed, {result.skipped} skipped",
        )
    return result


def _send_now(ids: list[int], result: SweepResult) -> None:
    for start in range(0, len(ids), settings.REMINDER_BATCH_SIZE):
        chunk = ids[start : start + settings.REMINDER_BATCH_SIZE]
        token, claimed = reminder_claim_due(limit=len(chunk), only_ids=chunk)
        batch = list(Reminder.objects.filter(pk__in=claimed, claim_token=token).select_related("note", "user"))
        result.skipped += len(chunk) - len(claimed)
        _deliver_batch(batch, token, result, lambda: None)


@transaction.atomic
def reminders_reset_pending(*, reminders: QuerySet[Reminder], by=None, source: str = "admin") -> int:
    """failed/cancelled → pending with a fresh attempt count (sends them again: a person's decision). Audited."""
    now = timezone.now()
    chosen = reminders.filter(status__in=[ReminderStatus.FAILED, ReminderStatus.CANCELLED])
    ids = list(chosen.values_list("pk", flat=True))
    n = Reminder.objects.filter(pk__in=ids, status__in=[ReminderStatus.FAILED, ReminderStatus.CANCELLED]).update(
        status=ReminderStatus.PENDING,
        attempts=0,
        last_error="",
        next_attempt_at=None,
        **RELEASED_CLAIM,
        updated_at=now,
    )
    _audit(by=by, source=source, action="reminders_reset", ids=ids, count=n, detail=f"{n} reset to pending")
    return n


@transaction.atomic
def reminders_cancel(*, reminders: QuerySet[Reminder], by=None, source: str = "admin") -> int:
    """pending → cancelled, except those being delivered this very moment. Audited."""
    now = timezone.now()
    chosen = reminders.filter(status=ReminderStatus.PENDING, delivery_started_at__isnull=True)
    ids = list(chosen.values_list("pk", flat=True))
    n = Reminder.objects.filter(pk__in=ids, status=ReminderStatus.PENDING, delivery_started_at__isnull=True).update(
        status=ReminderStatus.CANCELLED, claim_token="", claimed_at=None, updated_at=now
    )
    _audit(by=by, source=source, action="reminders_cancel", ids=ids, count=n, detail=f"{n} cancelled")
    return n
