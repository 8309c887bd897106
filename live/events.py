"""A job's live event stream: a Redis Stream per job, written at each transition, read by SSE and ETags.

Why a Stream rather than pub/sub: an entry id is a cursor. It is the SSE `id:`,
so a client that reconnects with `Last-Event-ID` reads exactly the entries
after it (XREAD), none twice and none missed, and it is also the job's version
for `ETag`: a poller's `If-None-Match` is answered from the newest entry
without reading the row. Pub/sub would drop whatever was sent while a client
was reconnecting.

Who writes: every transition of a user's job (start, claim, progress,
completion, failure, cancel, retry) publishes the row as it returned from its
UPDATE, after the commit, best effort: a Redis error is logged and never fails
the job (the row stays the truth; a stream that missed an entry catches up at
the next one). System jobs (no user) publish nothing: nobody can watch them.
Each stream keeps its last JOBS_EVENTS_MAXLEN entries and expires
JOBS_EVENTS_TTL seconds after its last one.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from jobs import rqkeys, transitions
from jobs.etags import FINAL_EVENTS, events_key
from jobs.models import BackgroundJob, JobStatus

logger = logging.getLogger("live.events")

#: Event names: `status` (queued, running), `progress`, then one final event named after the outcome.
STATUS, PROGRESS = "status", "progress"
EVENT_NAMES = (STATUS, PROGRESS, *sorted(FINAL_EVENTS))

#: A Redis Stream entry id, as a client sends it back in `Last-Event-ID`.
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def event_name(row: BackgroundJob, *, progress: bool = False) -> str:
    if row.status in FINAL_EVENTS:
        return str(row.status)
    return PROGRESS if progress and row.status == JobStatus.RUNNING else STATUS


def job_document(row: BackgroundJob) -> dict:
    """The job as `GET /jobs/{id}` shows it: every event carries the whole state."""
    from jobs.serializers import BackgroundJobSerializer

    return dict(BackgroundJobSerializer(row).data)


def job_events_publish(*, rows: Iterable[BackgroundJob], progress: bool = False) -> int:
    """Append each user job's state to its stream (one pipeline); how many were written.

    Best effort: never raises. A caller inside a transaction must call this
    after the commit (`transaction.on_commit`), so no event announces a state a
    rollback undid.
    """
    watched = [row for row in rows if row is not None and row.user_id is not None]
    if not watched or not settings.REDIS_URL:
        return 0
    try:
        pipe = rqkeys.job_or_probe_connection().pipeline(transaction=False)
        for row in watched:
            key = events_key(row.job_id)
            data = json.dumps(job_document(row), separators=(",", ":"))
            pipe.xadd(
                key,
                {"event": event_name(row, progress=progress), "data": data},
                maxlen=settings.JOBS_EVENTS_MAXLEN,
                approximate=True,
            )
            pipe.expire(key, settings.JOBS_EVENTS_TTL)
        pipe.execute()
    except Exception as exc:  # never fail a job for its live view
        logger.warning(
            "Could not publish the events of job(s) %s (%s: %s); live views catch up at the next transition",
            ", ".join(str(row.job_id) for row in watched[:3]),
            type(exc).__name__,
            exc,
        )
        return 0
    return len(watched)


def job_events_publish_on_commit(*, rows: Iterable[BackgroundJob], progress: bool = False) -> None:
    """`job_events_publish` once the current transaction commits (at once outside one)."""
    watched = [row for row in rows if row is not None and row.user_id is not None]
    if watched:  # a system job costs nothing here
        transaction.on_commit(lambda: job_events_publish(rows=watched, progress=progress))


def transition_observer(transition: str, rows: list[BackgroundJob]) -> None:
    """Each row a transition changed, as it returned, to its live stream once committed (jobs.transitions).

    A batch start announces nothing: its streams start at the claim, so the
    batch stays one Redis round trip (`background_job_start_many`).
    """
    if transition == transitions.CREATE and len(rows) > 1:
        return
    job_events_publish_on_commit(rows=rows, progress=transition == transitions.PROGRESS)


# --- Reading: asyncio, for the SSE view ----------------------------------------

#: One asyncio client per event loop (a connection belongs to the loop that opened it).
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_redis_client():
    import asyncio

    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # Each open stream holds one connection while it waits in XREAD BLOCK
        # (redis-py's default pool stops at 100), so the pool's size is the
        # limit on open streams; the read timeout only has to outlast a block.
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            max_connections=settings.JOBS_EVENTS_MAX_STREAMS,
            socket_connect_timeout=2,
            socket_timeout=settings.JOBS_EVENTS_KEEPALIVE_SECONDS + 10,
            socket_keepalive=True,
        )
        _async_clients[loop] = client
    return client


def sse_frame(*, event: str, data: str, entry_id: str | None = None) -> bytes:
    """One Server-Sent Event; `data` is one line of JSON."""
    head = f"id: {entry_id}\n" if entry_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def entry_frame(entry_id: bytes, fields: dict) -> tuple[bytes, bool]:
    """(the SSE frame of a stream entry, whether it is the final event)."""
    event = fields.get(b"event", b"").decode()
    return sse_frame(event=event, data=fields.get(b"data", b"{}").decode(), entry_id=entry_id.decode()), (
        event in FINAL_EVENTS
    )
