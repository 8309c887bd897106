"""The stuck-job reconciler: compares active BackgroundJob rows with RQ's state and repairs them.

One pass (`background_jobs_reconcile`) reads every queued/running row, fetches
their RQ jobs and the heartbeats of the workers running them in two pipelined
round trips, and decides per row:

- running, RQ job started on a worker whose heartbeat stopped (killed, OOM, host
  gone) → failed "Worker stopped unexpectedly", or a new attempt when the job
  type allows retries;
- running, RQ job missing from Redis (flushed, restarted) → the same;
- running, RQ job back in the queue (RQ's abandoned-job cleanup retried it) →
  queued; unless it is a continuation (`jobs.runner.Continue`: the next slice
  waiting its turn); one deferred on other RQ jobs gets RQ's abandoned-job
  cleanup run on its queue, so a dependency whose worker died is retried or failed;
- running or queued, RQ job finished with a result the row never got (the
  database unreachable when the worker wrote it) → completed with RQ's result;
- running or queued, RQ job otherwise finished/failed/stopped (a callback that
  never ran, e.g. "signal only works in main thread") → failed with RQ's reason;
- running past its RQ timeout plus JOBS_TIMEOUT_GRACE → failed (a row running
  as slices is timed from its current slice's start);
- queued, RQ job missing from Redis → re-enqueued once, failed the second time;
- queued, RQ job waiting on a queue its task no longer declares (a renamed or
  retired queue no worker serves) → moved to the task's queue, same RQ id.

A job running on a worker that still heart-beats is never touched. Every change
goes through a service that updates conditionally and records an audit event
with source "reconciler". It is safe to run concurrently with workers, with
operators and with itself: the conditional UPDATEs decide who wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.utils import utcparse

from jobs import services
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus, result_storable
from jobs.registry import UnknownJobType, get_task
from jobs.rqkeys import rq_connection
from jobs.schedules import SCHEDULE_ID_PREFIX

logger = logging.getLogger(__name__)

WORKER_STOPPED = "Worker stopped unexpectedly"
SOURCE = "reconciler"
#: Rows looked at per pass; a backlog larger than this is worked off over passes.
BATCH = 2000


@dataclass(frozen=True)
class Repair:
    job_id: str
    job_type: str
    status_before: str
    action: str  # completed, failed, retried, reenqueued, requeued, moved
    reason: str
    applied: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        verb = self.action if self.applied else f"would be {self.action}"
        return f"{self.job_type} {self.job_id} ({self.status_before}) {verb}: {self.reason}"


def _status(rq_job: Job) -> str:
    status = rq_job.get_status(refresh=False)
    return str(getattr(status, "value", status) or "")


def _fetch_rq_jobs(connection, rows: list[BackgroundJob]) -> list[Job | None]:
    try:
        return Job.fetch_many([row.rq_job_id for row in rows], connection=connection)
    except (RedisError, ValueError, TypeError):
        # One corrupt key (WRONGTYPE, undecodable) must not hide the others;
        # a job we cannot read counts as missing (the doctor names the key).
        jobs = []
        for row in rows:
            try:
                jobs.append(Job.fetch(row.rq_job_id, connection=connection))
            except Exception:
                jobs.append(None)
        return jobs


def _worker_heartbeats(connection, names: set[str]) -> dict[str, datetime | None]:
    names = sorted(name for name in names if name)
    if not names:
        return {}
    pipe = connection.pipeline(transaction=False)
    for name in names:
        pipe.hget(Worker.redis_worker_namespace_prefix + name, "last_heartbeat")
    beats = {}
    for name, raw in zip(names, pipe.execute(), strict=True):
        try:
            beats[name] = utcparse(raw.decode()) if raw else None
        except ValueError:
            beats[name] = None
    return beats


def redis_uptime(connection) -> int:
    """Seconds since the Redis server started (INFO server)."""
    return int(connection.info("server").get("uptime_in_seconds", 10**9))


def heartbeat_deadline() -> int:
    """Seconds without a heartbeat after which a busy worker is dead."""
    return settings.RQ_JOB_MONITORING_INTERVAL + settings.JOBS_HEARTBEAT_GRACE


def _kept_result(rq_job: Job) -> tuple[bool, object]:
    """(True, value) when RQ kept a successful, JSON-storable result of a run that really ran."""
    try:
        result = rq_job.latest_result()
    except Exception:  # unreadable: treat as missing
        return False, None
    if result is None or result.type != result.Type.SUCCESSFUL:
        return False, None
    value = result.return_value
    if isinstance(value, dict) and set(value) == {"skipped"}:
        return False, None  # the runner declined the row: nothing ran
    if not result_storable(value):  # as the worker would store it
        return False, None
    return True, value


def _rq_failure_reason(rq_job: Job, status: str) -> str:
    if status == "finished":
        return "RQ finished the job but its outcome never reached the row"
    if status in ("stopped", "canceled"):
        return f"The RQ job was {status} before the row recorded an outcome"
    text = ""
    try:
        result = rq_job.latest_result()
        # The exception line is the last unindented one: a multi-line message
        # (psycopg's "server closed the connection...") continues indented.
        lines = (result.exc_string or "").strip().splitlines() if result else []
        text = next((line for line in reversed(lines) if line and not line[0].isspace()), "")
    except Exception:  # an unreadable result must not stop the pass
        text = ""
    return "RQ recorded the job as failed but the row was never updated" + (f": {text}" if text else "")


class _Pass:
    def __init__(self, *, dry_run: bool):
        self.dry_run = dry_run
        self.repairs: list[Repair] = []

    def _apply(self, row: BackgroundJob, action: str, reason: str, change: Callable[[], bool]) -> None:
        """Run `change` (unless dry-run) and record the repair when it applied."""
        if self.dry_run:
            self.repairs.append(Repair(str(row.job_id), row.job_type, row.status, action, reason, applied=False))
        elif change():
            repair = Repair(str(row.job_id), row.job_type, row.status, action, reason)
            self.repairs.append(repair)
            logger.warning("Reconciler: %s", repair)

    def _this_attempt(self, row: BackgroundJob):
        return BackgroundJob.objects.filter(pk=row.pk, rq_job_id=row.rq_job_id)

    def fail(self, row: BackgroundJob, reason: str) -> None:
        self._apply(
            row,
            "failed",
            reason,
            lambda: (
                services.background_job_mark_failed(
                    job_rows=self._this_attempt(row), reason=reason, source=SOURCE, action="reconcile"
                )
                == 1
            ),
        )

    def fail_or_retry(self, row: BackgroundJob, reason: str) -> None:
        """A running attempt was lost: retry when the job type allows another attempt, else fail."""
        try:
            spec = get_task(row.job_type)
        except UnknownJobType:
            spec = None
        periodic = row.rq_job_id.startswith(SCHEDULE_ID_PREFIX)
        if spec and spec.max_retries and not periodic and row.attempts <= spec.max_retries:
            reason = f"{reason}; retrying (attempt {row.attempts + 1} of {spec.max_retries + 1})"
            self._apply(
                row,
                "retried",
                reason,
                lambda: (
                    services.background_job_retry(
                        job_rows=self._this_attempt(row),
                        reason=reason,
                        source=SOURCE,
                        from_statuses=[JobStatus.RUNNING],
                    )
                    == 1
                ),
            )
        else:
            self.fail(row, reason)

    def complete(self, row: BackgroundJob, result, reason: str) -> None:
        self._apply(
            row,
            "completed",
            reason,
            lambda: services.background_job_complete_from_rq(job_row=row, result=result, reason=reason, source=SOURCE),
        )

    def reenqueue(self, row: BackgroundJob, reason: str) -> None:
        self._apply(
            row,
            "reenqueued",
            reason,
            lambda: services.background_job_reenqueue(job_row=row, reason=reason, source=SOURCE),
        )

    def requeue(self, row: BackgroundJob, reason: str) -> None:
        self._apply(
            row,
            "requeued",
            reason,
            lambda: services.background_job_mark_requeued(job_row=row, reason=reason, source=SOURCE),
        )

    def move(self, row: BackgroundJob, rq_job: Job, queue_name: str) -> None:
        retired = rq_job.origin if rq_job.origin != queue_name else row.queue
        reason = f"Moved from queue {retired!r} to {queue_name!r}, the queue its task declares now"
        self._apply(
            row,
            "moved",
            reason,
            lambda: services.background_job_move_queue(
                job_row=row, rq_job=rq_job, queue_name=queue_name, reason=reason
            ),
        )


def _declared_queue(row: BackgroundJob) -> str | None:
    try:
        return get_task(row.job_type).queue
    except UnknownJobType:
        return None


def background_jobs_reconcile(*, dry_run: bool = False, exclude=()) -> list[Repair]:
    """Run one reconciler pass; returns what it changed (or, with dry_run, would change).

    `exclude` lists row ids to leave alone (the reconciler's own row when it runs
    as a task). Raises RedisError when Redis is down: with no view of RQ's state
    nothing can be decided safely.
    """
    rows = list(
        BackgroundJob.objects.filter(status__in=ACTIVE_STATUSES)
        .exclude(pk__in=list(exclude))
        .order_by("created_at")[:BATCH]
    )
    work = _Pass(dry_run=dry_run)
    if not rows:
        return work.repairs
    now = timezone.now()
    grace = timedelta(seconds=settings.JOBS_RECONCILE_GRACE)
    connection = rq_connection()
    rq_jobs = _fetch_rq_jobs(connection, rows)
    beats = _worker_heartbeats(
        connection, {rq_job.worker_name for rq_job in rq_jobs if rq_job is not None and rq_job.worker_name}
    )
    dead_after = timedelta(seconds=heartbeat_deadline())

    # Periodic jobs reuse one RQ id per schedule: of several active rows sharing
    # it only the newest can be the live run.
    newest_by_rq_id: dict[str, BackgroundJob] = {}
    for row in rows:
        if row.rq_job_id.startswith(SCHEDULE_ID_PREFIX):
            newest_by_rq_id[row.rq_job_id] = row  # rows are oldest first

    restarted_ago = None
    waiting_on: set[str] = set()
    for row, rq_job in zip(rows, rq_jobs, strict=True):
        settled = row.updated_at < now - grace
        newest = newest_by_rq_id.get(row.rq_job_id)
        if newest is not None and newest.pk != row.pk:
            work.fail(row, f"{WORKER_STOPPED}: a later run of this periodic job has started")
            continue
        if rq_job is None:
            if row.status == JobStatus.RUNNING:
                if restarted_ago is None:
                    restarted_ago = redis_uptime(connection)
                if restarted_ago < heartbeat_deadline():
                    # Redis came back empty moments ago: a live worker still
                    # running this job restores its record on its next busy
                    # heartbeat (ScribesWorker), so wait one deadline first.
                    logger.info(
                        "Reconciler: Redis restarted %d s ago; not judging running job %s yet", restarted_ago, row.pk
                    )
                    continue
                work.fail_or_retry(row, f"{WORKER_STOPPED}: its RQ job is missing from Redis (flushed or restarted)")
            elif settled:
                _queued_and_lost(work, row, "its RQ job is missing from Redis (flushed or restarted)")
            continue
        status = _status(rq_job)
        if status == "started":
            beat = beats.get(rq_job.worker_name or "")
            if beat is None or beat < now - dead_after:
                seen = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "no heartbeat"
                detail = f"worker {rq_job.worker_name or '(unknown)'} is gone ({seen})"
                if row.status == JobStatus.RUNNING:
                    work.fail_or_retry(row, f"{WORKER_STOPPED}: {detail}")
                elif settled:
                    _queued_and_lost(work, row, detail)
                continue
            if row.status == JobStatus.RUNNING and row.started_at:
                limit = (rq_job.timeout if rq_job.timeout and rq_job.timeout > 0 else settings.JOB_TIMEOUT) + (
                    settings.JOBS_TIMEOUT_GRACE
                )
                # A row running as slices (jobs.runner.Continue) is timed from its current slice's start.
                started = max(row.started_at, rq_job.started_at or row.started_at)
                if started < now - timedelta(seconds=limit):
                    work.fail(row, f"Running longer than its timeout plus grace ({limit} s); stopped")
            continue
        if status in ("queued", "scheduled", "deferred"):
            if row.status == JobStatus.RUNNING and (rq_job.meta or {}).get("continuation"):
                if status == "deferred":
                    waiting_on.add(rq_job.origin)
                continue  # between slices: the next one waits its turn, and resumes a running row
            if row.status == JobStatus.RUNNING:
                work.requeue(row, f"RQ put the job back on the queue ({status}) after its worker was lost")
            elif status == "queued":
                declared = _declared_queue(row)
                # The row's queue is checked too: a move cut short, or a re-enqueue on the new queue.
                if declared and (rq_job.origin != declared or row.queue != declared):
                    work.move(row, rq_job, declared)
            continue
        if status in ("finished", "failed", "stopped", "canceled") and settled:
            found, result = _kept_result(rq_job) if status == "finished" else (False, None)
            if found:
                work.complete(row, result, "RQ finished the job; its result had not reached the row")
            else:
                work.fail(row, _rq_failure_reason(rq_job, status))
    # Continuations wait on RQ jobs of their queue (slices on other workers).
    for name in sorted(waiting_on) if not dry_run else ():
        StartedJobRegistry(name, connection=connection).cleanup()
    return work.repairs


def _queued_and_lost(work: _Pass, row: BackgroundJob, detail: str) -> None:
    already = row.events.filter(action="reenqueue").exists()
    if already:
        work.fail(row, f"Lost again after being re-enqueued once: {detail}")
    else:
        work.reenqueue(row, f"Re-enqueued: {detail}")
