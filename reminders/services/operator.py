"""The admin's actions on reminders (send now, reset to pending, cancel), each audited."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.signals import operator_acted
from reminders.models import Reminder, ReminderStatus
from reminders.services.claims import RELEASED_CLAIM, SweepResult, deliver_batch, reminder_claim_due


def _audit(*, by, source: str, action: str, ids: list[int], count: int, detail: str) -> None:
    target = "reminders:" + ",".join(str(pk) for pk in ids[:40]) + ("…" if len(ids) > 40 else "")
    operator_acted.send(
        sender=Reminder, actor=by, source=source, action=action, target=target, count=count, detail=detail
    )


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
        deliver_batch(batch, token, result, lambda: None)


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
