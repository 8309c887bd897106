"""RQ's Redis keys (every `rq:` template of the project is here), their expected types, and the WRONGTYPE quarantine.

One raw operation on an RQ key (a SET where RQ keeps a list) makes every worker
that meets it fail with `WRONGTYPE Operation against a key holding the wrong kind
of value`, and RQ's loop ends on it; the blunt fix is FLUSHDB, which loses every
job. Here the doctor reports such keys, and a worker that hits one renames it out
of RQ's way (keeping the data for inspection) and goes on serving. Also the two
connection factories: RQ's own, and a short-timeout probe.
"""

from __future__ import annotations

import functools
import logging
import time
from fnmatch import fnmatchcase

import django_rq
import redis
from django.conf import settings

from common import queues

logger = logging.getLogger(__name__)

#: Per-queue keys: the job list, and the workers listening on the queue.
QUEUE_KEY = "rq:queue:{}"
QUEUE_WORKERS_KEY = "rq:workers:{}"
#: A job's hash (RQ_JOB_KEY_TEMPLATES has every key RQ keeps per job).
JOB_KEY = "rq:job:{}"
#: Sets of all queues and all workers.
QUEUES_KEY = "rq:queues"
WORKERS_KEY = "rq:workers"
#: rq-scheduler's sorted set of scheduled job ids, and its instance hash
#: (kept alive with a TTL of interval + 10 s; `death` is written on exit).
SCHEDULED_JOBS_KEY = "rq:scheduler:scheduled_jobs"
SCHEDULER_INSTANCE_KEY = "rq:scheduler_instance:{}"
#: RQ job ids of periodic runs (RQ accepts only letters, digits, "_" and "-").
SCHEDULE_ID_PREFIX = "scribes-periodic-"
#: RQ job ids of one-off runs scheduled by `jobs.schedules.task_run_at`: prefix, key, "-", a unique part.
RUN_ONCE_ID_PREFIX = "scribes-once-"
#: A job's live event stream beside RQ's keys (written by live.events, read by jobs.etags).
JOB_EVENTS_KEY = "scribes:job:{}:events"


def rq_connection() -> redis.Redis:
    """The Redis connection RQ uses for the project queues: every read or write of RQ's keys goes through it.

    One client per process (and Redis URL): django-rq builds a new client, with a
    new connection pool, on every `get_connection`, so each call paid a TCP connect
    and its handshake (a note write's auto-embed schedule, `/health`, a job's
    status). redis-py's pool starts afresh in a forked work-horse. Keyed by
    django-rq's factory too, so a test that swaps it gets a client of its own.
    """
    return _shared_connection(django_rq.get_connection, settings.REDIS_URL)


@functools.lru_cache(maxsize=16)
def _shared_connection(get_connection, url: str) -> redis.Redis:
    return get_connection(queues.SYSTEM)


def probe_connection() -> redis.Redis:
    """A connection with short timeouts, for what must answer even when Redis hangs (/health, live events)."""
    return _probe_connection(settings.REDIS_URL)


def job_or_probe_connection() -> redis.Redis:
    """Inside an RQ job, the worker's own connection; elsewhere the short-timeout probe.

    A forked work-horse has the worker's connection open already (RQ used it to
    start the job); any other client would open a new one for every job, a
    handshake of several round trips each time.
    """
    from rq import get_current_job

    job = get_current_job()
    return job.connection if job is not None else probe_connection()


@functools.lru_cache(maxsize=4)
def _probe_connection(url: str) -> redis.Redis:
    # One pool per process and URL (redis-py resets it in a forked child). A Redis
    # that hangs delays a health probe or a transition by seconds at worst.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


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
    (QUEUES_KEY, "set"),
    (WORKERS_KEY, "set"),
    ("rq:workers:*", "set"),
    ("rq:worker:*:executions", "zset"),
    ("rq:worker:*", "hash"),
    (SCHEDULED_JOBS_KEY, "zset"),
)
#: Per-queue RQ keys (queue list and registries), formatted with the queue name.
RQ_QUEUE_KEY_TEMPLATES = (
    QUEUE_KEY,
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
    JOB_KEY,
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


def worker_keys(worker) -> list[str]:
    """The keys a worker reads first when its dequeue meets a WRONGTYPE error."""
    keys = [QUEUES_KEY, WORKERS_KEY, worker.key, worker.executions_key]
    for queue in worker.queues:
        keys.append(QUEUE_WORKERS_KEY.format(queue.name))
        keys += [template.format(queue.name) for template in RQ_QUEUE_KEY_TEMPLATES]
    return keys
