"""Whether reminder delivery works: each sweep's outcome, kept in Redis for /health, doctor and /metrics.

A sweep that tried to send and got nothing through is a failing tick; one that
sent anything ends the streak; one with nothing to send leaves it as it was
(a mail server that refuses is not proven fixed by a quiet minute). Redis, not
the database: every worker writes it once per sweep, every web process reads it
per /health poll and per scrape, and losing it (a Redis restart) only restarts
the count.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from common.text import truncate

logger = logging.getLogger("reminders.sweep")

STATE_KEY = "scribes:reminders:delivery"
#: Longest error kept (the reminder rows keep theirs in full).
ERROR_MAX = 500


def _connection(connection=None):
    if connection is not None:
        return connection
    from jobs.rqkeys import rq_connection

    return rq_connection()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def delivery_tick_record(*, sent: int, failed: int, error: str = "", connection=None) -> None:
    """Record one sweep's delivery outcome: `sent` mails went through, `failed` sends were refused."""
    if not sent and not failed:
        return
    try:
        conn = _connection(connection)
        pipe = conn.pipeline(transaction=True)
        pipe.hincrby(STATE_KEY, "sent_total", sent)
        pipe.hincrby(STATE_KEY, "failures_total", failed)
        if sent:
            pipe.hset(STATE_KEY, mapping={"consecutive_failing": 0, "failing_since": "", "last_error": ""})
            pipe.execute()
            return
        pipe.hincrby(STATE_KEY, "consecutive_failing", 1)
        pipe.hset(STATE_KEY, "last_error", truncate(error, ERROR_MAX))
        if pipe.execute()[2] == 1:
            conn.hset(STATE_KEY, "failing_since", timezone.now().isoformat())
    except RedisError as exc:
        logger.warning("Could not record the delivery outcome (Redis: %s)", exc)


def delivery_state(connection=None) -> dict:
    """{consecutive_failing, failing, last_error, failing_since, sent_total, failures_total}.

    `failing` is True once REMINDER_DELIVERY_FAILING_TICKS sweeps in a row sent
    nothing and had refusals. Raises RedisError (callers say "Redis unreachable").
    """
    raw = {_text(key): _text(value) for key, value in _connection(connection).hgetall(STATE_KEY).items()}
    consecutive = int(raw.get("consecutive_failing") or 0)
    return {
        "consecutive_failing": consecutive,
        "failing": consecutive >= settings.REMINDER_DELIVERY_FAILING_TICKS,
        "last_error": raw.get("last_error", "") if consecutive else "",
        "failing_since": raw.get("failing_since") or None,
        "sent_total": int(raw.get("sent_total") or 0),
        "failures_total": int(raw.get("failures_total") or 0),
    }
