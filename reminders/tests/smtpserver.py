"""A real SMTP server on loopback for the delivery tests (aiosmtpd on a thread), which can refuse on demand."""

from __future__ import annotations

import email
import socket
import threading
import time
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class RecordingHandler:
    """Accepts messages and records (time received, reminder id); refuses while told to.

    `refuse_until` (a time.monotonic() value) makes DATA answer `refusal` (a
    451 by default: "try again later"); a 5xx there is a permanent refusal.
    `refuse_ids` refuses only those reminders' messages, with `refusal`.
    """

    def __init__(self):
        self.received: list[tuple[float, int]] = []
        self.refused = 0
        self.refuse_until = 0.0
        self.refuse_ids: set[int] = set()
        self.refusal = "451 4.7.1 Rate limit exceeded, try again later"
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        reminder_id = int(message["X-Scribes-Reminder"])
        with self.lock:
            if time.monotonic() < self.refuse_until or reminder_id in self.refuse_ids:
                self.refused += 1
                return self.refusal
            self.received.append((time.monotonic(), reminder_id))
        return "250 OK"

    def ids(self) -> list[int]:
        with self.lock:
            return [reminder_id for _, reminder_id in self.received]

    def times(self) -> list[float]:
        with self.lock:
            return [at for at, _ in self.received]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server():
    """Yield (handler, port) of a running server; stopped on the way out."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def busiest_second(times: list[float]) -> int:
    """The most messages received in any one-second window [t, t + 1) (sliding, not calendar seconds)."""
    times = sorted(times)
    best = 0
    end = 0
    for start, at in enumerate(times):
        while end < len(times) and times[end] < at + 1.0:
            end += 1
        best = max(best, end - start)
    return best
