"""The polite mailer: a send rate shared by every worker (Redis), and which SMTP refusals to retry soon.

Why a Lua script and not a library: the whole limiter is one atomic
read-modify-write of one key, which `register_script` (redis-py's front door
for EVALSHA) does in a dozen lines; the libraries that fit (e.g.
redis-rate-limiters, limits) bring a second Redis client setup, async
variants and sliding-window storages we do not need.

The bucket is a token bucket in its "virtual scheduling" form (GCRA): Redis
keeps one timestamp, the theoretical arrival time of the next token. Each
sender reserves the next free slot in one script call (`max(now, tat)`, then
`tat += 1/rate`) and sleeps until it; the clock is Redis's own `TIME`, so
workers on hosts with skewed clocks share one schedule. The bucket holds one
token (no burst): sends are at least 1/rate apart, so no second carries more
than `REMINDER_SEND_RATE` mails, which is what providers' per-second quotas count.
"""

from __future__ import annotations

import logging
import smtplib
import time

from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger("reminders.sweep")

BUCKET_KEY = "scribes:reminders:send-bucket"

# KEYS[1]: the bucket; ARGV[1]: seconds between two sends.
# Returns the seconds (as a string, Lua numbers become integers) to wait for the reserved slot.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return tostring(tat - now)
"""

TEMPORARY, PERMANENT, OTHER = "temporary", "permanent", "other"


def smtp_refusal_kind(exc: BaseException) -> str:
    """TEMPORARY for a 4xx reply or a server that cannot be reached now, PERMANENT for 5xx, else OTHER.

    A refused connection counts as temporary: a restarting relay looks like one.
    Recipients refused with mixed codes count as permanent only when none is 4xx
    (the 4xx ones would go through later; a reminder has one recipient anyway).
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return TEMPORARY if any(400 <= code < 500 for code in codes) else PERMANENT
    if isinstance(exc, smtplib.SMTPResponseException):
        if 400 <= exc.smtp_code < 500:
            return TEMPORARY
        if 500 <= exc.smtp_code < 600:
            return PERMANENT
        return OTHER
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError):
        return TEMPORARY
    return OTHER


class SendPacer:
    """One delivery run's pace: a slot from the shared bucket before each send, and a
    budget of time to wait out temporary refusals before leaving them to the next tick.

    `rate` 0 means no limit (no Redis call). If Redis fails, the pacer keeps the
    rate for this process alone (logged once) rather than stop or flood.
    """

    def __init__(self, *, rate: float | None = None, retry_budget: float | None = None, connection=None):
        self.rate = float(settings.REMINDER_SEND_RATE if rate is None else rate)
        self.retry_budget = float(settings.REMINDER_TEMPFAIL_RETRY_SECONDS if retry_budget is None else retry_budget)
        self._connection = connection
        self._script = None
        self._local_next = 0.0
        self._redis_failed = False
        self._retry_deadline: float | None = None
        self._retry_delay = 1.0
        #: The run's latest recorded delivery error (for the failing-ticks record).
        self.last_error = ""
        #: Sends this run recorded as failed (not counting reminders without an address).
        self.send_failures = 0

    def _reserve(self) -> float:
        interval = 1.0 / self.rate
        if not self._redis_failed:
            try:
                if self._script is None:
                    if self._connection is None:
                        from jobs.rqkeys import rq_connection

                        self._connection = rq_connection()
                    self._script = self._connection.register_script(_RESERVE)
                return float(self._script(keys=[BUCKET_KEY], args=[repr(interval)]))
            except RedisError as exc:
                logger.warning("Send-rate bucket unavailable (Redis: %s); pacing this process alone", exc)
                self._redis_failed = True
        now = time.monotonic()
        slot = max(now, self._local_next)
        self._local_next = slot + interval
        return slot - now

    def wait_turn(self) -> None:
        """Block until this process may hand one message to the mail server."""
        if self.rate <= 0:
            return
        wait = self._reserve()
        if wait > 0:
            time.sleep(wait)

    def retry_after_temporary(self) -> float | None:
        """Seconds to wait before retrying a temporary refusal, or None once the budget is spent.

        The delay starts at 1 s and doubles up to 8 s; the budget counts from the
        first temporary refusal of this run and is shared by all its reminders, so
        a mail server that stays down costs one budget per run, not one per reminder.
        """
        now = time.monotonic()
        if self._retry_deadline is None:
            self._retry_deadline = now + self.retry_budget
        if now >= self._retry_deadline:
            return None
        delay = min(self._retry_delay, self._retry_deadline - now)
        self._retry_delay = min(self._retry_delay * 2, 8.0)
        return delay

    def delivered(self) -> None:
        """A send went through: the next refusal starts with a short delay again (the budget stays spent)."""
        self._retry_delay = 1.0
