"""A job's version, for `ETag`/`If-None-Match` on `GET /jobs/{id}`: its newest live event, else its last write.

The live app (`live.events`) appends each transition of a user's job to a Redis
Stream; the newest entry id is the job's version, so a poller's `If-None-Match`
is answered without reading the row. Where the stream is gone (expired, Redis
flushed, the live app not installed) the row's `updated_at` is the version.
"""

from __future__ import annotations

from django.utils.crypto import constant_time_compare, salted_hmac

from jobs import rqkeys
from jobs.models import FINAL_STATUSES, BackgroundJob

#: Event names of the final states: a job at one of them has nothing more to say.
FINAL_EVENTS = frozenset(str(status) for status in FINAL_STATUSES)


def events_key(job_id) -> str:
    return rqkeys.JOB_EVENTS_KEY.format(job_id)


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
    """The version of a row whose stream is gone: its last write."""
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
