"""The `/health` report: database, Redis, workers and scheduler, cheap enough to poll (no scans)."""

import logging

from django.conf import settings
from django.db import connection

from operations.selectors import redis_health
from semantic.embedders import HASHING, EmbedderUnavailable, get_embedder

logger = logging.getLogger(__name__)


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" to a health probe
        logger.warning("Health check: database unreachable: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def _embedder_status() -> str:
    """Which embedder is active, in words safe for an unauthenticated caller.

    Never the model's path or the load error (they name the install layout);
    `manage.py doctor` and the worker banner give those to operators.
    """
    kind = settings.SEMANTIC_EMBEDDER
    try:
        embedder = get_embedder()
    except EmbedderUnavailable:
        return f"{kind}: unavailable (run `manage.py doctor`)"
    text = f"{kind} ({embedder.model_name})"
    if kind == HASHING:
        text += " [WARNING: not a language model]"
    return text


def _paused_queues() -> dict:
    from redis.exceptions import RedisError

    from jobs.pausing import paused_queues

    try:
        return paused_queues()
    except RedisError as exc:
        logger.warning("Health check: could not read paused queues: %s", exc)
        return {}


def _periodic_and_delivery(problems: list[str]) -> dict:
    """The periodic jobs' and reminder delivery's state, adding their problem lines.

    Error texts stay out of /health (it is unauthenticated: an SMTP error names
    hosts and accounts); the error's type is enough to say what kind of failure,
    and `manage.py doctor` gives the rest.
    """
    from redis.exceptions import RedisError

    from operations.periodic import periodic_job_health, periodic_job_problems
    from reminders.delivery_health import delivery_state

    report = {}
    try:
        states = periodic_job_health()
    except Exception as exc:  # the database check above already says why
        logger.warning("Health check: could not read periodic jobs: %s", exc)
    else:
        problems.extend(periodic_job_problems(states))
        report["periodic"] = {
            state["job_type"]: {"failing": state["failing"], "overdue": state["overdue"]} for state in states
        }
    try:
        delivery = delivery_state()
    except RedisError as exc:
        logger.warning("Health check: could not read reminder delivery state: %s", exc)
    else:
        report["reminder_delivery"] = "failing" if delivery["failing"] else "ok"
        if delivery["failing"]:
            kind = delivery["last_error"].split(":", 1)[0] or "unknown error"
            problems.append(
                f"reminder delivery failing: {delivery['consecutive_failing']} sweeps in a row sent nothing "
                f"({kind}); `manage.py doctor` shows the error"
            )
    return report


def health_report() -> dict:
    """Return the health document; `status` is "error" when the database or Redis is down.

    A missing worker is reported ("degraded") but is not a 503: the web process
    itself can still serve requests and accept jobs.
    """
    problems: list[str] = []
    database = _database_ok()
    if database != "ok":
        problems.append("database unreachable")
    redis = redis_health()
    if redis["redis"] != "ok":
        problems.append("redis unreachable")
    else:
        if not redis["workers"]:
            problems.append("no RQ worker is running: queued jobs will wait")
        else:
            idle = [name for name, n in redis.get("workers_by_queue", {}).items() if not n]
            if idle:
                problems.append(f"no RQ worker listens on queue(s) {', '.join(idle)}: their jobs will wait")
        paused = _paused_queues()
        redis["paused_queues"] = sorted(paused)
        if paused:
            problems.append(f"queue(s) {', '.join(sorted(paused))} paused by an operator: their jobs wait")
        if redis.get("scheduler") != "ok":
            problems.append("rq-scheduler is not running: periodic jobs (reminder sweep, reconciler) will not run")
    signals = _periodic_and_delivery(problems) if database == "ok" and redis["redis"] == "ok" else {}
    if database != "ok" or redis["redis"] != "ok":
        overall = "error"
    elif problems:
        overall = "degraded"
    else:
        overall = "ok"
    # Which embedder search and the regenerate job use (never loads the model);
    # the hashing fallback says so, so it is never active silently.
    embedder = _embedder_status()
    return {
        "status": overall,
        "database": database,
        **redis,
        **signals,
        "embedder": embedder,
        "problems": problems,
    }
