"""The guarded sweep: no two at once (a Redis lock), at most one per cron tick (a slot row)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from reminders.delivery_health import delivery_tick_record
from reminders.models import Reminder, ReminderSweepSlot
from reminders.pacing import SendPacer
from reminders.selectors import reminder_due_count, reminder_sweep_outlook
from reminders.services.claims import SweepResult, deliver_batch, reminder_claim_due, reminder_fail_abandoned

logger = logging.getLogger("reminders.sweep")

SWEEP_LOCK_KEY = "scribes:reminders:sweep-lock"
#: How long a taken cron slot is kept: long enough for any late copy of its tick.
SLOT_RETENTION = timedelta(days=1)


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
    pacer = SendPacer()
    while True:
        token, ids = reminder_claim_due(limit=batch_size, now=now)
        if not ids:
            break
        batch = list(Reminder.objects.filter(pk__in=ids, claim_token=token).select_related("note", "user"))
        batch.sort(key=lambda r: (r.scheduled_at, r.pk))
        deliver_batch(batch, token, result, keep_alive, sweep_now=now, pacer=pacer)
        processed += len(ids)
        if progress:
            progress(processed, max(result.due, processed))
    logger.info("Reminder processing complete: %d sent, %d failed", result.sent, result.failed)
    delivery_tick_record(sent=result.sent, failed=pacer.send_failures, error=pacer.last_error)
    return result


class _SweepLock:
    """The no-overlap guard: a Redis lock with a TTL that a live sweep keeps extending.

    A killed sweep stops extending it, so the next sweep may run at most
    REMINDER_SWEEP_LOCK_TTL seconds later. Even without it two sweeps would be
    safe (claims are disjoint); the lock only keeps them from racing for nothing.
    """

    def __init__(self):
        from jobs.rqkeys import rq_connection

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
