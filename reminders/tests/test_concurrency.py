"""Concurrent sweepers on the real database: 1,000 due reminders, each sent exactly once."""

import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import connection, connections

from reminders import services
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _sweep_in_threads(count: int, batch_size: int) -> list:
    results, errors = [], []
    barrier = threading.Barrier(count)

    def sweeper():
        try:
            barrier.wait()
            results.append(services.reminders_sweep(batch_size=batch_size))
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_four_concurrent_sweepers_send_each_of_1000_reminders_once(make_due):
    reminders = make_due(1000)
    results = _sweep_in_threads(4, batch_size=25)

    sent_ids = Counter(int(m.extra_headers["X-Scribes-Reminder"]) for m in mail.outbox)
    assert len(sent_ids) == 1000 and max(sent_ids.values()) == 1
    assert set(sent_ids) == {r.pk for r in reminders}
    assert sum(r.sent for r in results) == 1000
    assert sum(r.failed for r in results) == 0
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 1000
    assert not Reminder.objects.exclude(claim_token="").exists()
    if connection.vendor == "postgresql":
        # With SKIP LOCKED the sweepers really share the work, not run one after another.
        assert sum(1 for r in results if r.sent) >= 2


def test_concurrent_claims_are_disjoint(make_due):
    make_due(1000)
    claimed, errors = [], []
    barrier = threading.Barrier(4)

    def claimer():
        try:
            barrier.wait()
            while True:
                _, ids = services.reminder_claim_due(limit=40)
                if not ids:
                    return
                claimed.append(ids)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    flat = [pk for ids in claimed for pk in ids]
    assert len(flat) == 1000 and len(set(flat)) == 1000
