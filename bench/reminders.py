"""Benchmark of the due-reminder sweep against a naive per-row loop, on a throwaway database.

100,000 due reminders among 500,000 rows (quick: 10,000 among 50,000), locmem mail:
claim statements per 1,000 reminders, claim and end-to-end throughput against a
naive select-then-update loop measured in the same run, two concurrent
sweepers → duplicates, and scaling: the sweep over 100,000 vs 10,000 due
(quick: 10,000 vs 1,000). `python -m bench.reminders [--quick]`.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager


@contextmanager
def _count_queries(counter: dict):
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        counter["all"] = counter.get("all", 0) + 1
        if sql.lstrip().upper().startswith("UPDATE") and "SET claim_token" in sql:
            counter["claim"] = counter.get("claim", 0) + 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def _seed(total: int, due: int):
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from notes.models import Note
    from reminders.models import Reminder

    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x")
    notes = Note.objects.bulk_create(
        [Note(user=user, title=f"Note {i}", content="Remember this. " * 20) for i in range(100)]
    )
    now = timezone.now()
    rows = []
    for i in range(total):
        when = now - timedelta(minutes=1 + i % 60) if i < due else now + timedelta(days=1 + i % 30)
        rows.append(Reminder(user=user, note=notes[i % len(notes)], scheduled_at=when))
        if len(rows) == 10_000:
            Reminder.objects.bulk_create(rows)
            rows = []
    if rows:
        Reminder.objects.bulk_create(rows)


def _naive_claim(n: int, now) -> float:
    """The baseline claim: per row, SELECT the next due one, then UPDATE it."""
    from django.db import transaction

    from reminders.models import Reminder, ReminderStatus

    started = time.perf_counter()
    for _ in range(n):
        with transaction.atomic():
            row = (
                Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lte=now, claim_token="")
                .order_by("scheduled_at", "id")
                .first()
            )
            Reminder.objects.filter(pk=row.pk, claim_token="").update(claim_token="naive", claimed_at=now)
    return n / (time.perf_counter() - started)


def _naive_sweep(n: int, now) -> float:
    """The baseline sweep: per row, SELECT the next due one, send it, save it."""
    from django.core.mail import get_connection

    from reminders.delivery import reminder_message, reminder_send
    from reminders.models import Reminder, ReminderStatus

    mail = get_connection()
    started = time.perf_counter()
    for _ in range(n):
        row = (
            Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lte=now)
            .order_by("scheduled_at")
            .first()
        )
        reminder_send(message=reminder_message(reminder=row), connection=mail)
        row.status, row.sent_at, row.attempts = ReminderStatus.SENT, now, row.attempts + 1
        row.save()
    return n / (time.perf_counter() - started)


def _reset(due_limit: int | None = None):
    """Make the first `due_limit` due reminders pending and unclaimed again."""
    from django.utils import timezone

    from reminders.models import Reminder, ReminderStatus

    rows = Reminder.objects.filter(scheduled_at__lte=timezone.now())
    if due_limit is not None:
        rows = Reminder.objects.filter(pk__in=list(rows.order_by("id").values_list("pk", flat=True)[:due_limit]))
    rows.update(
        status=ReminderStatus.PENDING, sent_at=None, attempts=0, claim_token="", claimed_at=None, next_attempt_at=None
    )


def run(quick: bool = False) -> list[dict]:
    from bench._setup import setup_django

    drop, where = setup_django("bench_reminders")
    try:
        return _run(quick, where)
    finally:
        drop()


def _run(quick: bool, where: str) -> list[dict]:
    from django.core import mail
    from django.db import connections
    from django.utils import timezone

    from reminders import services
    from reminders.models import Reminder, ReminderStatus

    scale = 10 if quick else 1
    total, due = 500_000 // scale, 100_000 // scale
    naive_n = 2_000 // scale
    print(f"# reminders benchmark on {where}: {due:,} due among {total:,}", file=sys.stderr)
    t0 = time.perf_counter()
    _seed(total, due)
    print(f"# seeded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows = []

    # 1. The claim alone: one statement per 1,000 vs. the per-row loop.
    now = timezone.now()
    naive_claim_rate = _naive_claim(naive_n, now)
    _reset()
    counter: dict = {}
    started = time.perf_counter()
    claimed = 0
    with _count_queries(counter):
        while True:
            _, ids = services.reminder_claim_due(limit=1000, now=now)
            if not ids:
                break
            claimed += len(ids)
    claim_rate = claimed / (time.perf_counter() - started)
    _reset()
    rows.append(
        {
            "benchmark": "reminders: claim throughput (reminders/s)",
            "figure": round(claim_rate),
            "baseline": round(naive_claim_rate),
            "ratio": round(claim_rate / naive_claim_rate, 1),
            "target": "≥ 25× naive select-then-update",
        }
    )

    # 2. The whole sweep over every due reminder (claim, load, deliver, record).
    counter = {}
    started = time.perf_counter()
    with _count_queries(counter):
        result = services.reminders_sweep(batch_size=1000)
    elapsed = time.perf_counter() - started
    assert result.sent == due, result
    sweep_rate = result.sent / elapsed
    per_k = 1000 / result.sent
    rows.append(
        {
            "benchmark": "reminders: claim statements per 1,000 sent",
            "figure": round(counter.get("claim", 0) * per_k, 3),
            "baseline": 1.1,
            "ratio": round(counter.get("claim", 0) * per_k / 1.1, 3),
            "target": "≤ 1.1",
        }
    )
    rows.append(
        {
            "benchmark": "reminders: all queries per 1,000 sent (incl. per-chunk start/sent records)",
            "figure": round(counter.get("all", 0) * per_k, 1),
            "baseline": None,
            "ratio": None,
        }
    )
    mail.outbox.clear()
    _reset(naive_n)
    naive_sweep_rate = _naive_sweep(naive_n, timezone.now())
    mail.outbox.clear()
    rows.append(
        {
            "benchmark": "reminders: sweep end-to-end incl. email (reminders/s)",
            "figure": round(sweep_rate),
            "baseline": round(naive_sweep_rate),
            "ratio": round(sweep_rate / naive_sweep_rate, 1),
            "target": "report",
        }
    )

    # 3. Two concurrent sweepers over the due set: duplicates must be 0.
    _reset()
    results, errors = [], []

    def sweeper():
        try:
            results.append(services.reminders_sweep(batch_size=500))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    headers = [m.extra_headers["X-Scribes-Reminder"] for m in mail.outbox]
    duplicates = len(headers) - len(set(headers))
    mail.outbox.clear()
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == due
    rows.append(
        {
            "benchmark": "reminders: duplicates with two concurrent sweepers",
            "figure": duplicates,
            "baseline": 0,
            "ratio": None,
            "target": "0",
        }
    )
    rows.append(
        {
            "benchmark": "reminders: concurrent split (sent by each sweeper)",
            "figure": "/".join(str(r.sent) for r in results),
            "baseline": None,
            "ratio": None,
        }
    )

    # 4. Scaling: the same sweep over a tenth of the due set (same table size),
    # against the full sweep of part 2. Linear cost means 10× the time.
    small = due // 10
    _reset(small)
    started = time.perf_counter()
    result = services.reminders_sweep(batch_size=1000)
    small_elapsed = time.perf_counter() - started
    assert result.sent == small, result
    mail.outbox.clear()
    rows.append(
        {
            "benchmark": f"reminders: sweep scaling, {due:,} vs {small:,} due (s; reminders/s; linear = 10×)",
            "figure": f"{elapsed:.1f} s ({sweep_rate:.0f}/s)",
            "baseline": f"{small_elapsed:.2f} s ({small / small_elapsed:.0f}/s)",
            "ratio": round(elapsed / small_elapsed, 1),
            "target": "report",
        }
    )
    return rows


def main(argv: list[str]) -> None:
    rows = run(quick="--quick" in argv)
    print("| benchmark | figure | baseline | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['benchmark']} | {row['figure']} | {row['baseline'] or ''} | {row['ratio'] or ''} |")


if __name__ == "__main__":
    main(sys.argv[1:])
