"""Pause and resume one queue: a Redis flag per queue that Scribes workers read before they dequeue.

RQ's own suspension (`rq suspend`) stops every worker on the connection; an
operator who wants the reminder sweep to wait while embeddings keep running
needs a per-queue switch. A paused queue keeps accepting jobs (they wait, in
order); workers dequeue only from their queues that are not paused, and a
worker whose queues are all paused idles (heart-beating) until one is resumed.
The flags live in one Redis hash (queue name → who paused it, when, why), so a
worker learns about every pause with one HKEYS before each dequeue.

The switch is RQ's queue class (`RQ["QUEUE_CLASS"]`, and the workers'
`queue_class`): its `dequeue_any` leaves paused queues out, so the worker's own
loop, queue order and dequeue strategy stay RQ's. Setting and clearing a flag is
the operator tools' part (`operations.pausing`).
"""

from __future__ import annotations

import json
import logging
import time

from django_rq.queues import DjangoRQ
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue

from jobs.rqkeys import rq_connection

logger = logging.getLogger("jobs.pausing")

#: Hash of paused queue names → JSON {"by", "at", "reason"}.
PAUSED_KEY = "scribes:paused-queues"

#: How long a worker whose queues are all paused sleeps between looks (seconds).
IDLE_POLL_SECONDS = 2.0

#: A dequeue that waited longer than this may have popped a job after its queue
#: was paused while the worker was blocked; the worker then looks again.
BLOCKED_DEQUEUE_SECONDS = 0.5


def paused_queues(connection=None) -> dict[str, dict]:
    """Each paused project queue and who paused it, when and why."""
    raw = (connection or rq_connection()).hgetall(PAUSED_KEY)
    paused = {}
    for name, value in raw.items():
        name = name.decode() if isinstance(name, bytes) else name
        try:
            paused[name] = json.loads(value)
        except (TypeError, ValueError):
            paused[name] = {"by": "?", "at": None, "reason": ""}
    return paused


def paused_queue_names(connection) -> set[str]:
    """The paused queues' names: one HKEYS, read before every dequeue."""
    return {name.decode() if isinstance(name, bytes) else name for name in connection.hkeys(PAUSED_KEY)}


#: Queue sets a worker was told are all paused: one warning per pause, not one per poll.
_told: set[tuple[str, ...]] = set()


class PausableQueue(DjangoRQ):
    """django-rq's queue whose `dequeue_any` (what a worker calls to take a job) skips paused queues."""

    @classmethod
    def dequeue_any(cls, queues, timeout, connection, *args, **kwargs):
        queues = list(queues)
        while True:
            paused = paused_queue_names(connection)
            open_queues = [queue for queue in queues if queue.name not in paused]
            if not open_queues:
                if timeout is None:
                    return None  # burst mode: nothing this worker may take
                names = tuple(sorted(queue.name for queue in queues))
                if names not in _told:
                    logger.warning("Every queue a worker serves is paused (%s); waiting for a resume", ", ".join(names))
                    _told.add(names)
                # RQ's loop heart-beats and asks again after a dequeue timeout.
                time.sleep(min(timeout, IDLE_POLL_SECONDS) if timeout else IDLE_POLL_SECONDS)
                raise DequeueTimeout(timeout, ", ".join(queue.key for queue in queues))
            _told.clear()
            started = time.monotonic()
            result = super().dequeue_any(open_queues, timeout, connection, *args, **kwargs)
            if result is None or time.monotonic() - started < BLOCKED_DEQUEUE_SECONDS:
                return result
            job, queue = result
            if queue.name not in paused_queue_names(connection):
                return result
            # Paused while this worker was blocked: the job goes back to the front
            # of its queue untouched (and out of RQ's in-flight list for it).
            with connection.pipeline() as pipe:
                IntermediateQueue(queue.key, pipe).remove(job.id)
                pipe.lpush(queue.key, job.id)
                pipe.execute()
            logger.info("Queue %s was paused while a worker waited; job %s put back", queue.name, job.id)
