"""Reminder lateness under a send rate: a 09:00 spike through the polite mailer.

10,000 reminders due at the same moment (quick: 1,000), REMINDER_SEND_RATE=200,
one sweep on a throwaway database with locmem mail and the real Redis token
bucket. No mailer can do better than the rate allows: the i-th reminder goes out
i / rate seconds late at the earliest. The baseline is that ideal, computed for
the same count and rate; the figures are p50 / p99 of `sent_at - scheduled_at`.
`python -m bench reminders_rate [--quick]`.
"""

from __future__ import annotations

import os
import sys
import time

RATE = 200


def run(quick: bool = False) -> list[dict]:
    os.environ["REMINDER_SEND_RATE"] = str(RATE)
    from bench._setup import setup_django

    drop, where = setup_django("bench_reminder_rate")
    try:
        return _run(1_000 if quick else 10_000, where)
    finally:
        drop()


def _run(count: int, where: str) -> list[dict]:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from bench._setup import percentile, require_disposable_redis
    from jobs.rqkeys import rq_connection
    from notes.models import Note
    from reminders import services
    from reminders.models import Reminder, ReminderStatus
    from reminders.pacing import BUCKET_KEY

    connection = rq_connection()
    require_disposable_redis(connection)
    connection.delete(BUCKET_KEY)
    print(f"# reminder send-rate benchmark on {where}: {count:,} due at once, rate {RATE}/s", file=sys.stderr)
    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x")
    note = Note.objects.create(user=user, title="Stand-up", content="Notes for the daily stand-up.")
    due = timezone.now() - timedelta(seconds=1)
    Reminder.objects.bulk_create([Reminder(user=user, note=note, scheduled_at=due) for _ in range(count)])

    started = time.perf_counter()
    result = services.reminders_sweep()
    elapsed = time.perf_counter() - started
    sent = list(Reminder.objects.filter(status=ReminderStatus.SENT).values_list("sent_at", flat=True))
    assert result.sent == len(sent) == count, (result, len(sent))
    lateness = sorted((at - due).total_seconds() for at in sent)
    ideal = [index / RATE for index in range(count)]
    p50, p99 = percentile(lateness, 0.5), percentile(lateness, 0.99)
    ideal_p50, ideal_p99 = percentile(ideal, 0.5), percentile(ideal, 0.99)
    print(f"# {count:,} sent in {elapsed:.1f} s (at least {(count - 1) / RATE:.1f} s at the rate)", file=sys.stderr)
    return [
        {
            "benchmark": f"reminders: lateness of {count:,} reminders due at once, REMINDER_SEND_RATE={RATE}, "
            "one sweep, p50 / p99 (s)",
            "figure": f"{p50:.1f} / {p99:.1f}",
            "baseline": f"ideal count/rate {ideal_p50:.1f} / {ideal_p99:.1f}",
            "ratio": f"{p99 / ideal_p99:.2f} (p99)",
            "target": "report",
        }
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
