"""RQ's Redis keys and their expected types, and the WRONGTYPE quarantine.

The old service died on `WRONGTYPE Operation against a key holding the wrong kind
of value` after raw list operations corrupted its queue keys, and the fix was
FLUSHDB. Here the doctor reports such keys, and a worker that hits one renames it
out of RQ's way (keeping the data for inspection) and goes on serving.
"""

from __future__ import annotations

import logging
import time
from fnmatch import fnmatchcase

logger = logging.getLogger(__name__)

#: Expected Redis types of RQ's keys, first match wins (fnmatch patterns).
RQ_KEY_TYPES = (
    ("rq:queue:*", "list"),
    ("rq:job:*:dependents", "set"),
    ("rq:job:*:dependencies", "set"),
    ("rq:job:*", "hash"),
    ("rq:results:*", "stream"),
    ("rq:wip:*", "zset"),
    ("rq:finished:*", "zset"),
    ("rq:failed:*", "zset"),
    ("rq:deferred:*", "zset"),
    ("rq:scheduled:*", "zset"),
    ("rq:canceled:*", "zset"),
    ("rq:queues", "set"),
    ("rq:workers", "set"),
    ("rq:workers:*", "set"),
    ("rq:worker:*:executions", "zset"),
    ("rq:worker:*", "hash"),
    ("rq:scheduler:scheduled_jobs", "zset"),
)
#: Per-queue RQ keys (queue list and registries), formatted with the queue name.
RQ_QUEUE_KEY_TEMPLATES = (
    "rq:queue:{}",
    "rq:wip:{}",
    "rq:finished:{}",
    "rq:failed:{}",
    "rq:deferred:{}",
    "rq:scheduled:{}",
    "rq:canceled:{}",
    "rq:intermediate:{}",
)
#: Keys RQ keeps per job id.
RQ_JOB_KEY_TEMPLATES = (
    "rq:job:{}",
    "rq:job:{}:dependents",
    "rq:job:{}:dependencies",
    "rq:results:{}",
    "rq:executions:{}",
)

#: Where a corrupted key is moved: outside `rq:*`, so RQ never touches it again.
QUARANTINE_PREFIX = "scribes-quarantine:"


def expected_type(key: str) -> str | None:
    for pattern, kind in RQ_KEY_TYPES:
        if fnmatchcase(key, pattern):
            return kind
    return None


def wrong_type_keys(connection, keys: list[str]) -> list[dict]:
    """The keys among `keys` whose Redis type is not the one RQ expects (one round trip)."""
    if not keys:
        return []
    pipe = connection.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    wrong = []
    for key, kind in zip(keys, pipe.execute(), strict=True):
        kind = kind.decode() if isinstance(kind, bytes) else kind
        expected = expected_type(key)
        if expected and kind not in (expected, "none"):
            wrong.append({"key": key, "type": kind, "expected": expected})
    return wrong


def scan_rq_keys(connection, limit: int = 20_000) -> list[str]:
    keys = []
    for raw in connection.scan_iter(match="rq:*", count=1000):
        keys.append(raw.decode() if isinstance(raw, bytes) else raw)
        if len(keys) >= limit:
            break
    return keys


def quarantine(connection, wrong: list[dict]) -> list[str]:
    """Rename each wrong-typed key to `scribes-quarantine:<key>:<unix time>`; returns the new names."""
    moved = []
    stamp = int(time.time())
    for item in wrong:
        target = f"{QUARANTINE_PREFIX}{item['key']}:{stamp}"
        try:
            connection.rename(item["key"], target)
        except Exception as exc:  # already moved by another worker, or vanished
            logger.warning("Could not quarantine %s: %s", item["key"], exc)
            continue
        logger.error(
            "Quarantined Redis key %s: it was a %s where RQ expects a %s (WRONGTYPE). Inspect it as %s; "
            "`manage.py doctor` lists quarantined keys.",
            item["key"],
            item["type"],
            item["expected"],
            target,
        )
        moved.append(target)
    return moved
