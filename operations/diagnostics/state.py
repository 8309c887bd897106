"""Doctor: RQ key types (WRONGTYPE), queue lengths and untracked failures, job rows (failures, stuck, lost)."""

from __future__ import annotations

from common.diagnostics import FAIL, OK, WARN, Finding, diagnostic
from jobs.rqkeys import rq_connection

#: Names of the findings whose data the admin's job-health page shows as tables.
QUEUES = "queues"
BY_STATUS = "jobs:by-status"
FAILURES_24H = "jobs:failures-24h"
AVERAGE_SECONDS = "jobs:average-seconds"
LOST = "jobs:lost"
STUCK = "jobs:stuck"

#: Most keys the type check inspects; a larger keyspace is sampled, not walked.
RQ_KEY_SCAN_LIMIT = 20_000


@diagnostic("redis-keys")
def check_redis_key_types() -> Finding:
    """TYPE of every `rq:*` key against what RQ expects (the old WRONGTYPE corruption)."""
    from jobs.rqkeys import QUARANTINE_PREFIX, scan_rq_keys, wrong_type_keys

    connection = rq_connection()
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


@diagnostic(QUEUES)
def check_queue_lengths() -> list[Finding]:
    import django_rq

    from common import queues
    from operations.selectors import queue_lengths

    waiting = queue_lengths()
    lengths = {}
    for name in queues.ALL:
        queue = django_rq.get_queue(name)
        lengths[name] = {
            "queued": waiting[name],
            "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    text = "; ".join(
        f"{name}: {counts['queued']} queued, {counts['started']} started" for name, counts in lengths.items()
    )
    return [Finding(QUEUES, OK, f"Queue lengths: {text}.", data=lengths), *_untracked_failures()]


@diagnostic("queues:retired")
def check_retired_queues() -> Finding:
    """Queues in Redis that hold jobs but are no project queue: renamed or retired ones."""
    from common import queues
    from operations.selectors import queues_holding_jobs

    stranded = {name: n for name, n in queues_holding_jobs(rq_connection()).items() if name not in queues.ALL}
    if not stranded:
        return Finding("queues:retired", OK, "Every queue holding jobs is a project queue.", data={"queues": {}})
    text = ", ".join(f"{name!r} ({n} job(s))" for name, n in stranded.items())
    return Finding(
        "queues:retired",
        WARN,
        f"Jobs wait on queue(s) that are not project queues ({', '.join(queues.ALL)}), so no Scribes worker "
        f"serves them: {text}.",
        "The reconciler moves tracked jobs (those with a job row) to their task's queue within a minute "
        "(`python manage.py reconcile_jobs` does it now). Others belong to no Scribes job or to another "
        "deployment sharing this Redis: check SCRIBES_QUEUE_PREFIX/SCRIBES_QUEUE_SYSTEM/SCRIBES_QUEUE_SEMANTIC "
        "against the deployment that enqueued them, or inspect them (`rq info -u $REDIS_URL`) before deleting.",
        data={"queues": stranded},
    )


@diagnostic("queues:paused")
def check_paused_queues() -> Finding:
    from common import queues
    from jobs.pausing import paused_queues

    paused = paused_queues()
    if not paused:
        return Finding("queues:paused", OK, f"No queue is paused ({', '.join(queues.ALL)}).", data={"paused": {}})
    parts = [
        f"{name} (by {flag.get('by')} at {flag.get('at')}{', ' + flag['reason'] if flag.get('reason') else ''})"
        for name, flag in sorted(paused.items())
    ]
    return Finding(
        "queues:paused",
        WARN,
        f"Paused queue(s): {'; '.join(parts)}. Their jobs wait; workers take none of them.",
        fix="When the reason is gone: `python manage.py queues resume NAME` (or Resume on the admin dashboard).",
        data={"paused": paused},
    )


def _untracked_failures() -> list[Finding]:
    """RQ failures with no BackgroundJob row: garbage payloads, unknown functions, foreign jobs.

    A tracked job's failure is on its row (and in jobs:failures-24h); these are the
    ones nothing else would show, so an operator sees what the worker skipped.
    """
    import django_rq
    from rq.job import Job

    from common import queues
    from jobs.models import BackgroundJob

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
    from operations.selectors import (
        background_job_average_seconds_by_type,
        background_job_counts_by_status,
        background_job_failures_since,
        background_job_stuck,
    )

    counts = background_job_counts_by_status()
    findings = [
        Finding(
            BY_STATUS,
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
            FAILURES_24H,
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
            AVERAGE_SECONDS,
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
    stuck = list(background_job_stuck()[:20])
    try:
        lost = background_jobs_reconcile(dry_run=True)
    except Exception as exc:
        lost = []
        findings.append(Finding(LOST, WARN, f"Could not compare rows with RQ: {exc}"))
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
                LOST,
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
                STUCK,
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
                STUCK,
                OK,
                f"No stuck jobs (workers heart-beat within {heartbeat_deadline()} s).",
            )
        )
    return findings
