"""Doctor: Redis, the database and its migrations, workers per queue, the scheduler and its periodic jobs."""

from __future__ import annotations

from common.diagnostics import FAIL, OK, WARN, Finding, diagnostic
from jobs.rqkeys import rq_connection


@diagnostic("redis")
def check_redis() -> Finding:
    from django.conf import settings

    from common.env import mask_url

    url = mask_url(settings.REDIS_URL)
    if not settings.REDIS_URL:
        return Finding("redis", FAIL, "REDIS_URL is not set.", "Set REDIS_URL=redis://host:6379/0.")
    try:
        info = rq_connection().info("server")
    except Exception as exc:
        return Finding(
            "redis",
            FAIL,
            f"Redis at {url} is unreachable: {exc}",
            "Start redis-server (or fix REDIS_URL); `redis-cli -u $REDIS_URL ping` must answer PONG.",
        )
    version = info.get("redis_version", "?")
    major = int(str(version).split(".")[0]) if str(version)[:1].isdigit() else 0
    if major and major < 5:
        return Finding("redis", FAIL, f"Redis {version} at {url} is too old for RQ.", "Upgrade to Redis 5 or later.")
    return Finding("redis", OK, f"Redis {version} reachable at {url}.", data={"version": version})


@diagnostic("database")
def check_database() -> Finding:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Finding(
            "database",
            FAIL,
            f"Database unreachable: {type(exc).__name__}: {exc}",
            "Check DATABASE_URL and that the database server runs.",
        )
    if plan:
        pending = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
        return Finding(
            "database",
            FAIL,
            f"{len(pending)} migration(s) not applied: {', '.join(pending[:5])}",
            "Run `python manage.py migrate`.",
            data={"pending": pending},
        )
    return Finding("database", OK, f"Database ({connection.vendor}) reachable, all migrations applied.")


@diagnostic("workers")
def check_workers() -> list[Finding]:
    from common import queues
    from operations.selectors import live_workers, queue_lengths, workers_by_queue

    connection = rq_connection()
    listening = workers_by_queue(connection)
    data = {"workers": live_workers(connection)}
    # An idle queue nobody serves is a warning (its next job would wait), one with
    # jobs waiting is a failure.
    waiting = queue_lengths(connection)
    findings = []
    for name in queues.ALL:
        purpose = next((purpose for purpose, names in queues.PURPOSES.items() if name in names), None)
        start = f"`python manage.py rqworker --purpose {purpose}`" if purpose else "`python manage.py rqworker`"
        if listening.get(name):
            findings.append(
                Finding(
                    f"workers:{name}",
                    OK,
                    f"Queue {name!r}: {len(listening[name])} live worker(s) ({', '.join(sorted(listening[name]))}), "
                    f"{waiting[name]} job(s) waiting.",
                    data=data,
                )
            )
        elif waiting[name]:
            findings.append(
                Finding(
                    f"workers:{name}",
                    FAIL,
                    f"No live worker listens on queue {name!r} and {waiting[name]} job(s) wait on it: "
                    "they wait until one starts.",
                    f"Start one: {start} (or `python manage.py rqworker`, which listens on every project queue).",
                    data=data,
                )
            )
        else:
            findings.append(
                Finding(
                    f"workers:{name}",
                    WARN,
                    f"No live worker listens on queue {name!r} (no job waits on it yet).",
                    f"Start one: {start} (or `python manage.py rqworker`, which listens on every project queue).",
                    data=data,
                )
            )
    foreign: dict[str, list[str]] = {}
    for worker in data["workers"]:
        for name in worker["queues"]:
            if name not in queues.ALL:
                foreign.setdefault(name, []).append(worker["name"])
    if foreign:
        findings.append(
            Finding(
                "workers:foreign-queues",
                WARN,
                f"Workers listen on queue(s) nothing in Scribes enqueues to: {', '.join(sorted(foreign))}.",
                "Start workers without queue arguments (`python manage.py rqworker`); "
                f"project queues are {', '.join(queues.ALL)} (SCRIBES_QUEUE_PREFIX).",
                data={"queues": dict(sorted(foreign.items()))},
            )
        )
    return findings


@diagnostic("scheduler")
def check_scheduler() -> list[Finding]:
    from django_rq import get_scheduler

    from common import queues
    from jobs.schedules import SCHEDULE_ID_PREFIX, all_periodic_jobs, scheduler_alive

    alive = scheduler_alive(rq_connection())
    findings = [
        Finding("scheduler", OK, "rq-scheduler is running.")
        if alive
        else Finding(
            "scheduler",
            FAIL,
            "rq-scheduler is not running: periodic jobs (reminder sweep, reconciler) will not fire.",
            "Start it: `python manage.py rqscheduler` (one per deployment).",
        )
    ]
    scheduler = get_scheduler(name=queues.SYSTEM)
    entries = list(scheduler.get_jobs())
    by_type: dict[str, list[str]] = {}
    for entry in entries:
        job_type = (entry.meta or {}).get("job_type") or entry.func_name
        by_type.setdefault(job_type, []).append(entry.id)
    next_runs = {}
    for entry, when in scheduler.get_jobs(with_times=True):
        next_runs[entry.id] = when.isoformat() if when else None
    from jobs.models import BackgroundJob
    from operations.periodic import periodic_job_health

    runs = {state["job_type"]: state for state in periodic_job_health()}
    for periodic in all_periodic_jobs():
        ids = by_type.get(periodic.job_type, [])
        last = (
            BackgroundJob.objects.filter(job_type=periodic.job_type)
            .order_by("-created_at")
            .values("status", "created_at", "completed_at", "result_data", "error_message")
            .first()
        )
        state = runs[periodic.job_type]
        data = {
            "schedule_ids": ids,
            "next_run": next_runs.get(periodic.schedule_id),
            "last_run": str(last["created_at"]) if last else None,
            "last_status": last["status"] if last else None,
            "last_result": (last["result_data"] or last["error_message"]) if last else None,
            **state,
            "last_finished": state["last_finished"].isoformat() if state["last_finished"] else None,
        }
        problems = []  # (level, what, fix)
        if not ids:
            problems.append(
                (
                    FAIL,
                    f"Periodic job {periodic.job_type} is not registered with rq-scheduler.",
                    "Run `python manage.py rqscheduler --register-only` (or restart rqscheduler).",
                )
            )
        elif len(ids) > 1:
            problems.append(
                (
                    WARN,
                    f"Periodic job {periodic.job_type} is registered {len(ids)} times; it fires once per entry.",
                    "Run `python manage.py rqscheduler --register-only` "
                    f"(it keeps one entry per job under {SCHEDULE_ID_PREFIX}*).",
                )
            )
        if state["failing"]:
            problems.append(
                (
                    FAIL,
                    f"Periodic task {periodic.job_type} failed its last {state['failed_runs']} runs: "
                    f"{state['last_error'] or 'no error recorded'}",
                    "Open the failed runs in the admin (Background jobs, filtered by type) for the traceback "
                    "and log; fix the cause, the next tick runs it again.",
                )
            )
        if state["overdue"]:
            problems.append(
                (
                    FAIL,
                    f"Periodic task {periodic.job_type} is overdue: last finished "
                    f"{state['last_finished']:%Y-%m-%d %H:%M:%S} UTC, due every {state['interval_seconds']} s.",
                    "Check that `manage.py rqscheduler` and a `manage.py rqworker` on its queue are running.",
                )
            )
        name = f"periodic:{periodic.job_type}"
        if problems:
            level = FAIL if any(level == FAIL for level, _, _ in problems) else WARN
            text, fix = " ".join(what for _, what, _ in problems), " ".join(fix for _, _, fix in problems)
            findings.append(Finding(name, level, text, fix, data=data))
        else:
            findings.append(
                Finding(
                    name,
                    OK,
                    f"Periodic job {periodic.job_type} registered once, running and succeeding; "
                    f"last run {data['last_run'] or 'never'} ({data['last_status'] or '-'}), "
                    f"next run {data['next_run'] or '?'}.",
                    data=data,
                )
            )
    return findings
