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
from django.utils.crypto import constant_time_compare, salted_hmac

from jobs import rqkeys, transitions
from jobs.models import FINAL_STATUSES, BackgroundJob, JobStatus

logger = logging.getLogger("jobs.events")

#: Event names: `status` (queued, running), `progress`, then one final event named after the outcome.
STATUS, PROGRESS = "status", "progress"
FINAL_EVENTS = frozenset(str(status) for status in FINAL_STATUSES)
EVENT_NAMES = (STATUS, PROGRESS, *sorted(FINAL_EVENTS))

#: A Redis Stream entry id, as a client sends it back in `Last-Event-ID`.
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def events_key(job_id) -> str:
    return rqkeys.JOB_EVENTS_KEY.format(job_id)


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


# --- Reading: the newest entry (ETag, first SSE frame) -------------------------


def job_latest_event(job_id) -> tuple[str, str] | None:
    """(entry id, event name) of the job's newest event; None when it has none. Raises RedisError."""
    entries = rqkeys.probe_connection().xrevrange(events_key(job_id), count=1)
    if not entries:
        return None
    entry_id, fields = entries[0]
    return entry_id.decode(), fields.get(b"event", b"").decode()


def etag(*, job_id, version: str, user_id) -> str:
    """A strong ETag for one user's view of one version of a job.

    Signed with the user: only a client that got this job from the server can
    hold a matching tag, so a 304 (answered without reading the row) never
    tells another user that the job exists.
    """
    mac = salted_hmac("jobs.events.etag", f"{job_id}:{version}:{user_id}").hexdigest()[:20]
    return f'"{version}.{mac}"'


def row_version(row: BackgroundJob) -> str:
    """The version of a row whose stream is gone (expired, Redis flushed): its last write."""
    return f"r{int(row.updated_at.timestamp() * 1_000_000)}"


def etag_matches(header: str, tag: str) -> bool:
    """Whether an `If-None-Match` header names `tag` (one tag, a list, or weak forms).

    `*` matches nothing here: it would answer 304 for a job without proving
    that the caller may see it.
    """
    for candidate in (part.strip() for part in header.split(",")):
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if constant_time_compare(candidate, tag):
            return True
    return False


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
