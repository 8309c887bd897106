"""The registry behind `manage.py doctor`: each app contributes named diagnostics.

An app adds a `diagnostics.py` module whose functions are decorated with
`@diagnostic("name")` and return one `Finding` or a list of them. The doctor
command (and the admin job-health view) run them all; a diagnostic that raises
is itself reported as FAIL, never crashes the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    name: str
    level: str  # OK, WARN or FAIL
    message: str
    fix: str = ""
    data: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


_DIAGNOSTICS: dict[str, Callable[[], Finding | list[Finding]]] = {}


def diagnostic(name: str):
    def decorate(func: Callable[[], Finding | list[Finding]]):
        _DIAGNOSTICS[name] = func
        return func

    return decorate


def all_diagnostics() -> dict[str, Callable[[], Finding | list[Finding]]]:
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("diagnostics")
    return dict(_DIAGNOSTICS)


def run_diagnostics() -> list[Finding]:
    findings: list[Finding] = []
    for name, func in all_diagnostics().items():
        try:
            result = func()
        except Exception as exc:  # a broken probe is a finding, not a crash
            findings.append(Finding(name, FAIL, f"diagnostic raised {type(exc).__name__}: {exc}"))
            continue
        findings.extend(result if isinstance(result, list) else [result])
    return findings


# --- The jobs app's own diagnostics ------------------------------------------------
# Each replaces a recipe of the old troubleshooting guide (redis-cli, SQL, ps).
# They read settings and Redis lazily, so importing this module stays cheap.

#: Most keys the type check inspects; a larger keyspace is sampled, not walked.
RQ_KEY_SCAN_LIMIT = 20_000


def _connection():
    from jobs.selectors import rq_connection

    return rq_connection()


@diagnostic("redis")
def check_redis() -> Finding:
    from django.conf import settings

    from scribes.env import mask_url

    url = mask_url(settings.REDIS_URL)
    if not settings.REDIS_URL:
        return Finding("redis", FAIL, "REDIS_URL is not set.", "Set REDIS_URL=redis://host:6379/0.")
    try:
        info = _connection().info("server")
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
    from rq import Worker

    from scribes import queues

    connection = _connection()
    workers = Worker.all(connection=connection)
    listening: dict[str, list[str]] = {}
    for worker in workers:
        for name in worker.queue_names():
            listening.setdefault(name, []).append(worker.name)
    data = {
        "workers": [
            {
                "name": worker.name,
                "queues": worker.queue_names(),
                "state": str(getattr(worker.get_state(), "value", worker.get_state())),
                "last_heartbeat": worker.last_heartbeat.isoformat() if worker.last_heartbeat else None,
                "current_job": worker.get_current_job_id(),
            }
            for worker in workers
        ]
    }
    findings = []
    for name in queues.ALL:
        if listening.get(name):
            findings.append(
                Finding(
                    f"workers:{name}",
                    OK,
                    f"Queue {name!r}: {len(listening[name])} live worker(s) ({', '.join(sorted(listening[name]))}).",
                    data=data,
                )
            )
        else:
            findings.append(
                Finding(
                    f"workers:{name}",
                    FAIL,
                    f"No live worker listens on queue {name!r}: its jobs wait forever.",
                    "Start one: `python manage.py rqworker` (it listens on the project queues by default).",
                    data=data,
                )
            )
    foreign = sorted(set(listening) - set(queues.ALL))
    if foreign:
        findings.append(
            Finding(
                "workers:foreign-queues",
                WARN,
                f"Workers listen on queue(s) nothing in Scribes enqueues to: {', '.join(foreign)}.",
                "Start workers without queue arguments (`python manage.py rqworker`); "
                f"project queues are {', '.join(queues.ALL)} (SCRIBES_QUEUE).",
                data={"queues": {name: listening[name] for name in foreign}},
            )
        )
    return findings


@diagnostic("scheduler")
def check_scheduler() -> list[Finding]:
    from django_rq import get_scheduler

    from jobs.schedules import SCHEDULE_ID_PREFIX, all_periodic_jobs, scheduler_alive
    from scribes import queues

    alive = scheduler_alive(_connection())
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
    scheduler = get_scheduler(name=queues.DEFAULT)
    entries = list(scheduler.get_jobs())
    by_type: dict[str, list[str]] = {}
    for entry in entries:
        job_type = (entry.meta or {}).get("job_type") or entry.func_name
        by_type.setdefault(job_type, []).append(entry.id)
    next_runs = {}
    for entry, when in scheduler.get_jobs(with_times=True):
        next_runs[entry.id] = when.isoformat() if when else None
    from jobs.models import BackgroundJob

    for periodic in all_periodic_jobs():
        ids = by_type.get(periodic.job_type, [])
        last = (
            BackgroundJob.objects.filter(job_type=periodic.job_type)
            .order_by("-created_at")
            .values("status", "created_at", "completed_at", "result_data", "error_message")
            .first()
        )
        data = {
            "schedule_ids": ids,
            "next_run": next_runs.get(periodic.schedule_id),
            "last_run": str(last["created_at"]) if last else None,
            "last_status": last["status"] if last else None,
            "last_result": (last["result_data"] or last["error_message"]) if last else None,
        }
        name = f"periodic:{periodic.job_type}"
        if not ids:
            findings.append(
                Finding(
                    name,
                    FAIL,
                    f"Periodic job {periodic.job_type} is not registered with rq-scheduler.",
                    "Run `python manage.py rqscheduler --register-only` (or restart rqscheduler).",
                    data=data,
                )
            )
        elif len(ids) > 1:
            findings.append(
                Finding(
                    name,
                    WARN,
                    f"Periodic job {periodic.job_type} is registered {len(ids)} times; it fires once per entry.",
                    "Run `python manage.py rqscheduler --register-only` "
                    f"(it keeps one entry per job under {SCHEDULE_ID_PREFIX}*).",
                    data=data,
                )
            )
        else:
            findings.append(
                Finding(
                    name,
                    OK,
                    f"Periodic job {periodic.job_type} registered once; last run {data['last_run'] or 'never'}"
                    f" ({data['last_status'] or '-'}), next run {data['next_run'] or '?'}.",
                    data=data,
                )
            )
    return findings


@diagnostic("redis-keys")
def check_redis_key_types() -> Finding:
    """TYPE of every `rq:*` key against what RQ expects (the old WRONGTYPE corruption)."""
    from jobs.rqkeys import QUARANTINE_PREFIX, scan_rq_keys, wrong_type_keys

    connection = _connection()
    keys = scan_rq_keys(connection, RQ_KEY_SCAN_LIMIT)
    wrong = wrong_type_keys(connection, keys)
    quarantined = sorted(k.decode() for k in connection.scan_iter(match=QUARANTINE_PREFIX + "*", count=1000))
    if wrong:
        shown = ", ".join(f"{item['key']} is a {item['type']} (RQ expects a {item['expected']})" for item in wrong[:5])
        return Finding(
            "redis-keys",
            FAIL,
            f"{len(wrong)} RQ key(s) of the wrong Redis type (WRONGTYPE errors): {shown}",
            "Run `python manage.py reset_queues --yes` (deletes only this project's RQ keys, fails their "
            "queued/running rows) or delete the named keys; never FLUSHDB a shared Redis.",
            data={"wrong": wrong},
        )
    if quarantined:
        return Finding(
            "redis-keys",
            WARN,
            f"{len(keys)} RQ key(s) of the expected type; {len(quarantined)} corrupted key(s) were quarantined "
            f"by a worker: {', '.join(quarantined[:5])}",
            "Inspect them (redis-cli TYPE/DUMP), then delete them; the queues already work without them.",
            data={"quarantined": quarantined},
        )
    return Finding("redis-keys", OK, f"{len(keys)} RQ key(s) checked, all of the expected type.")


@diagnostic("queues")
def check_queue_lengths() -> list[Finding]:
    import django_rq

    from scribes import queues

    lengths = {}
    for name in queues.ALL:
        queue = django_rq.get_queue(name)
        lengths[name] = {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    text = "; ".join(
        f"{name}: {counts['queued']} queued, {counts['started']} started" for name, counts in lengths.items()
    )
    return [Finding("queues", OK, f"Queue lengths: {text}.", data=lengths), *_untracked_failures()]


def _untracked_failures() -> list[Finding]:
    """RQ failures with no BackgroundJob row: garbage payloads, unknown functions, foreign jobs.

    A tracked job's failure is on its row (and in jobs:failures-24h); these are the
    ones nothing else would show, so an operator sees what the worker skipped.
    """
    import django_rq
    from rq.job import Job

    from jobs.models import BackgroundJob
    from scribes import queues

    found = []
    for name in queues.ALL:
        registry = django_rq.get_queue(name).failed_job_registry
        ids = registry.get_job_ids(0, 199)
        tracked = set(BackgroundJob.objects.filter(rq_job_id__in=ids).values_list("rq_job_id", flat=True))
        for job_id in [job_id for job_id in ids if job_id not in tracked][:20]:
            job = Job.fetch_many([job_id], connection=registry.connection)[0]
            reason = "job data missing"
            if job is not None:
                result = job.latest_result()
                lines = (result.exc_string or "").strip().splitlines() if result else []
                reason = lines[-1] if lines else "failed"
            found.append({"queue": name, "rq_job_id": job_id, "reason": reason[:300]})
    if not found:
        return []
    shown = "; ".join(f"{item['rq_job_id']}: {item['reason']}" for item in found[:3])
    return [
        Finding(
            "queues:untracked-failures",
            WARN,
            f"{len(found)} RQ job(s) failed without a job row (unknown function, unreadable payload, "
            f"or enqueued by something else): {shown}",
            "Inspect them in the admin's RQ pages (Django RQ → failed); find what enqueued them. "
            "The worker skipped them and kept serving.",
            data={"jobs": found},
        )
    ]


@diagnostic("jobs")
def check_jobs() -> list[Finding]:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from jobs.reconciler import background_jobs_reconcile, heartbeat_deadline
    from jobs.selectors import (
        background_job_average_seconds_by_type,
        background_job_counts_by_status,
        background_job_failures_since,
        background_job_stuck,
    )

    counts = background_job_counts_by_status()
    findings = [
        Finding(
            "jobs:by-status",
            OK,
            "Jobs by status: " + ", ".join(f"{status} {n}" for status, n in counts.items()) + ".",
            data=counts,
        )
    ]
    failed_n, failed = background_job_failures_since(since=timezone.now() - timedelta(hours=24), limit=10)
    failures = [
        {
            "job_id": str(job.job_id),
            "job_type": job.job_type,
            "completed_at": job.completed_at.isoformat() if job.completed_at else None,
            "error": job.error_message[:300],
        }
        for job in failed
    ]
    findings.append(
        Finding(
            "jobs:failures-24h",
            WARN if failed_n else OK,
            f"{failed_n} job(s) failed in the last 24 h"
            + (f"; latest: {failures[0]['job_type']}: {failures[0]['error'][:120]}" if failures else "."),
            "Read the errors in the admin (Background jobs, filter Failed); retry with the Retry action."
            if failed_n
            else "",
            data={"count": failed_n, "latest": failures},
        )
    )
    averages = background_job_average_seconds_by_type()
    findings.append(
        Finding(
            "jobs:average-seconds",
            OK,
            "Average completion time: "
            + (
                ", ".join(f"{job_type} {seconds:.1f} s" for job_type, seconds in averages.items())
                or "no completed jobs"
            )
            + ".",
            data=averages,
        )
    )
    stuck = list(
        background_job_stuck(
            running_for_minutes=max(1, (settings.JOB_TIMEOUT + settings.JOBS_TIMEOUT_GRACE) // 60),
            queued_for_minutes=settings.JOBS_STUCK_QUEUED_MINUTES,
        )[:20]
    )
    try:
        lost = background_jobs_reconcile(dry_run=True)
    except Exception as exc:
        lost = []
        findings.append(Finding("jobs:lost", WARN, f"Could not compare rows with RQ: {exc}"))
    stuck_data = [
        {
            "job_id": str(job.job_id),
            "job_type": job.job_type,
            "status": job.status,
            "since": str(job.started_at or job.created_at),
        }
        for job in stuck
    ]
    if lost:
        findings.append(
            Finding(
                "jobs:lost",
                WARN,
                f"{len(lost)} job row(s) disagree with RQ (worker gone, RQ job missing): "
                + "; ".join(str(repair) for repair in lost[:3]),
                "The reconciler repairs them on its next pass; run `python manage.py reconcile_jobs` to do it now.",
                data={"repairs": [repair.as_dict() for repair in lost[:50]]},
            )
        )
    if stuck:
        findings.append(
            Finding(
                "jobs:stuck",
                WARN,
                f"{len(stuck)} job(s) stuck: running past their timeout or queued for more than "
                f"{settings.JOBS_STUCK_QUEUED_MINUTES} min.",
                "Check the workers above; `python manage.py fail_stuck_jobs --older-than MINUTES` fails "
                "running ones, or use Mark failed in the admin.",
                data={"jobs": stuck_data},
            )
        )
    elif not lost:
        findings.append(
            Finding(
                "jobs:stuck",
                OK,
                f"No stuck jobs (workers heart-beat within {heartbeat_deadline()} s).",
            )
        )
    return findings


# The per-queue pause registers its own finding (jobs/pausing.py).
from jobs import pausing  # noqa: E402, F401
