"""Pause and resume one queue: a Redis flag per queue that Scribes workers read before they dequeue.

RQ's own suspension (`rq suspend`) stops every worker on the connection; an
operator who wants the reminder sweep to wait while embeddings keep running
needs a per-queue switch. A paused queue keeps accepting jobs (they wait, in
order); workers dequeue only from their queues that are not paused, and a
worker whose queues are all paused idles (heart-beating) until one is resumed.
The flags live in one Redis hash (queue name → who paused it, when, why), so a
worker learns about every pause with one HKEYS before each dequeue.
"""

from __future__ import annotations

import json
import logging
import time

from rq.worker import DequeueStrategy

logger = logging.getLogger("jobs.pausing")

#: Hash of paused queue names → JSON {"by", "at", "reason"}.
PAUSED_KEY = "scribes:paused-queues"

#: How long a worker whose queues are all paused sleeps between looks (seconds).
IDLE_POLL_SECONDS = 2.0

#: A dequeue that waited longer than this may have popped a job after its queue
#: was paused while the worker was blocked; the worker then looks again.
BLOCKED_DEQUEUE_SECONDS = 0.5


def _connection():
    from jobs.rqkeys import rq_connection

    return rq_connection()


def paused_queues(connection=None) -> dict[str, dict]:
    """Each paused project queue and who paused it, when and why."""
    raw = (connection or _connection()).hgetall(PAUSED_KEY)
    paused = {}
    for name, value in raw.items():
        name = name.decode() if isinstance(name, bytes) else name
        try:
            paused[name] = json.loads(value)
        except (TypeError, ValueError):
            paused[name] = {"by": "?", "at": None, "reason": ""}
    return paused


class QueuePauseMixin:
    """The worker's hook: dequeue only from this worker's queues that are not paused.

    One HKEYS before each dequeue; a second look after a dequeue that blocked
    (the queue may have been paused while the worker waited), which puts the
    job back at the front of its queue untouched.
    """

    def paused_queue_names(self) -> set[str]:
        return {name.decode() if isinstance(name, bytes) else name for name in self.connection.hkeys(PAUSED_KEY)}

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        all_queues = self._ordered_queues
        told = False
        while True:
            paused = self.paused_queue_names()
            open_queues = [queue for queue in all_queues if queue.name not in paused]
            if not open_queues:
                if timeout is None:
                    return None  # burst mode: nothing this worker may take
                if not told:
                    self.log.warning(
                        "Worker %s: every queue it serves is paused (%s); waiting for a resume",
                        self.name,
                        ", ".join(sorted(paused)),
                    )
                    told = True
                self.heartbeat()
                time.sleep(IDLE_POLL_SECONDS)
                continue
            self._ordered_queues = open_queues
            started = time.monotonic()
            try:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            finally:
                # Put the paused queues back. The default strategy's order is a
                # priority and stays; round robin and random keep RQ's new order.
                if self._dequeue_strategy not in (None, DequeueStrategy.DEFAULT):
                    kept = [queue for queue in self._ordered_queues if queue in all_queues]
                    all_queues = kept + [queue for queue in all_queues if queue not in kept]
                self._ordered_queues = all_queues
            if result is None or time.monotonic() - started < BLOCKED_DEQUEUE_SECONDS:
                return result
            job, queue = result
            if queue.name not in self.paused_queue_names():
                return result
            with self.connection.pipeline() as pipe:
                pipe.lrem(queue.intermediate_queue_key, 1, job.id)
                pipe.lpush(queue.key, job.id)
                pipe.execute()
            self.log.info(
                "Worker %s: queue %s was paused while it waited; job %s put back", self.name, queue.name, job.id
            )
