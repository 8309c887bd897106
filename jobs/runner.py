"""Worker side of a tracked task: runs the body and keeps the row in step with RQ.

The row moves queued → running before the body starts and running →
completed/failed after it ends; an exception is recorded on the row and
re-raised so RQ records the failure too (and retries when the task allows).
Failures that never reach this code are caught by `jobs.callbacks` and by
`ScribesWorker.handle_work_horse_killed`.

Who writes the row: under a SimpleWorker (and in tests) everything happens here,
in one process. Under the forking `ScribesWorker` the worker's main process,
which keeps its database connection between jobs, claims the row before the
fork and records the completion after the horse exits (`ForkHandoff`): the horse
of a job that does not touch the database itself then never opens a connection
of its own, which was the largest cost per forked job (a new PostgreSQL
connection, about 5 ms here, plus the ORM's first-use work in a fresh process).
Failures are still recorded by the horse, which connects when it needs to.

When: a Scribes worker (`ScribesWorker`, `ScribesSimpleWorker`) holds a
completion until its next claim and writes both in one statement
(`CompletionHold`); elsewhere a completion is written when the body returns.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from jobs import events, services
from jobs.models import RESULT_ENCODER, BackgroundJob, result_storable
from jobs.registry import TaskSpec

logger = logging.getLogger("jobs.runner")


class JobStopped(Exception):
    """Raised by `JobContext.progress` when the row left `running` under the task (cancel, mark failed)."""


class JobContext:
    """What a task body gets: its row, a progress call, and a logger."""

    def __init__(self, row: BackgroundJob):
        self.row = row
        self.job_id = row.job_id
        self.log = logging.LoggerAdapter(logger, {"job_id": str(row.job_id)})
        self._processed = 0
        self._reported: tuple[int, int] | None = None
        self._written: tuple[int, int] | None = None
        self._interval = settings.JOBS_PROGRESS_INTERVAL_MS / 1000
        self._last_write = time.monotonic()

    @property
    def user(self):
        # Loaded on first use: most tasks never ask, and the row comes from an
        # UPDATE ... RETURNING that cannot join the user.
        return self.row.user

    def progress(self, processed: int, total: int) -> None:
        """Report `processed` of `total` items done; the percent is derived, never decreases.

        Written at most once per JOBS_PROGRESS_INTERVAL_MS (counted from the
        start of the job), so a job that ends sooner writes no progress at all:
        its completion sets 100%. A call that repeats the last written figures
        writes nothing.
        """
        self._processed = max(self._processed, processed)
        self._reported = (self._processed, total)
        if self._written == self._reported:
            return
        now = time.monotonic()
        if now - self._last_write < self._interval:
            return
        if not services.background_job_set_progress(job_id=self.job_id, processed=self._processed, total=total):
            # Cancelled or failed meanwhile: RQ's stop-job command kills a forked
            # horse, but a SimpleWorker runs the body in its own process, so the
            # body stops here, at its next progress write.
            raise JobStopped(f"Job {self.job_id} is no longer running (cancelled or failed meanwhile); stopped")
        self._written = self._reported
        self._last_write = now

    @property
    def reported(self) -> tuple[int, int] | None:
        """The last (processed, total) reported, written or not; the completion records it."""
        return self._reported


def describe_failure(exc: BaseException, *, timeout: int | None = None) -> str:
    if isinstance(exc, JobTimeoutException):
        limit = f" after {timeout} s" if timeout else ""
        return f"Job timed out{limit} (JOB_TIMEOUT); it was stopped by the worker."
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_final_attempt(rq_job) -> bool:
    # RQ calls on_failure on every failed attempt; only the last one is final.
    return rq_job is None or not rq_job.should_retry


#: Django's health check (a SELECT 1 round trip) runs at most once per this many
#: seconds on a clean server connection: a busy worker paid it once or twice per
#: job, while a connection idle for longer is checked before its next job.
RECHECK_AFTER_SECONDS = 1.0
_last_check = float("-inf")


def _drop_unusable_connections() -> None:
    """`close_old_connections`, except that a healthy SQLite connection is kept.

    A horse may inherit a connection the database dropped (restart, idle
    timeout); never run a job on it. But SQLite runs with CONN_MAX_AGE 0, for
    which `close_old_connections` closes every connection: a SimpleWorker then
    reopened the file for every job, and closing the last connection also
    checkpoints the WAL (the largest cost per job in the profile). A SQLite file
    cannot drop a connection, so only one left in a transaction or after an
    error is closed; server databases keep Django's rules (age, health check),
    except that a clean connection is health-checked at most once a second.
    """
    global _last_check
    now = time.monotonic()
    recent = now - _last_check < RECHECK_AFTER_SECONDS
    if not recent:
        _last_check = now
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        clean = not conn.errors_occurred and conn.get_autocommit() == conn.settings_dict["AUTOCOMMIT"]
        if conn.vendor == "sqlite":
            if not clean:
                conn.close()
        elif not (recent and clean) or (conn.close_at is not None and now >= conn.close_at):
            conn.close_if_unusable_or_obsolete()  # also applies CONN_MAX_AGE


class CompletionHold:
    """A Scribes worker's last successful completion, held until its next claim.

    Under a Scribes worker a completion is not written when the body returns:
    the next claim writes it in the same statement (`jobs.services.
    background_job_start_running`), so a busy worker makes one database round
    trip per job instead of two, which was most of the tracking cost under a
    SimpleWorker (bench/jobs.py). The worker writes it on its own before it
    waits for work, before a job that claims no row, when it suspends and when
    it stops (`jobs.worker`), so a completion is late by RQ's own bookkeeping
    between two jobs, a few milliseconds. A worker killed in that window leaves
    the row running with RQ holding the result: the reconciler completes it.

    Off unless a Scribes worker turned it on for its loop: RQ's own workers,
    work-horses and code outside a worker write every completion at once.
    """

    def __init__(self):
        self.enabled = False
        self._held: services.Completion | None = None

    @property
    def held(self) -> services.Completion | None:
        return self._held

    def record(self, completion: services.Completion) -> None:
        if not self.enabled or not result_storable(completion.result):
            # Written now; a result the row cannot store fails this job, as it
            # must, instead of the next job's claim.
            services.background_job_record_completion(completion)
            return
        self.flush()  # never two held: the previous one had no claim to ride on
        self._held = completion

    def take(self) -> services.Completion | None:
        """Hand the held completion to a claim, which writes it."""
        held, self._held = self._held, None
        return held

    def flush(self) -> None:
        """Write the held completion now; a failure is logged and left to the reconciler."""
        held = self.take()
        if held is not None:
            _write_or_log(held)

    def start(self) -> None:
        self.enabled = True

    def stop(self) -> None:
        self.flush()
        self.enabled = False

    def forget(self) -> None:
        """In a work-horse: what the parent holds is the parent's to write."""
        self._held = None
        self.enabled = False


completions = CompletionHold()


def _write_or_log(completion: services.Completion) -> None:
    try:
        _drop_unusable_connections()
        services.background_job_record_completion(completion)
    except Exception:
        logger.exception(
            "Could not record the completion of job %s; the reconciler completes it from RQ's result",
            completion.job_id,
        )
        close_old_connections()


def _claim(background_job_id: str) -> tuple[BackgroundJob | None, str]:
    """queued → running (writing a held completion along); (row, "") when claimed, else (None, the status)."""
    completing = completions.take()
    try:
        row = services.background_job_start_running(job_id=background_job_id, completing=completing)
    except Exception:
        if completing is None:
            raise
        # Whatever the combined statement hit, it must not fail this job for
        # the previous one: write them apart, each failing on its own.
        logger.warning(
            "Claim of job %s carrying the completion of job %s failed; writing them separately",
            background_job_id,
            completing.job_id,
            exc_info=True,
        )
        _write_or_log(completing)
        row = services.background_job_start_running(job_id=background_job_id)
    if row is not None:
        events.job_events_publish(rows=[row])
        return row, ""
    current = BackgroundJob.objects.filter(pk=background_job_id).values_list("status", flat=True).first()
    return None, current or "missing"


#: Longest result the horse hands to its parent through the pipe; a Linux pipe
#: holds 64 KiB, so a write this size into the empty pipe never blocks. A larger
#: result is recorded by the horse itself.
HANDOFF_MAX_BYTES = 48 * 1024


@dataclass
class ForkHandoff:
    """A row the worker's main process claimed for the horse it is about to fork.

    The horse inherits this object through fork(). When the body succeeds, the
    horse writes the result (JSON) into the pipe and the parent records the
    completion on its own, long-lived connection; a failure is recorded by the
    horse as before and sends nothing.
    """

    rq_job_id: str
    background_job_id: str
    row: BackgroundJob | None
    skipped_status: str
    parent_pid: int = field(default_factory=os.getpid)
    read_fd: int = -1
    write_fd: int = -1

    @classmethod
    def claim(cls, rq_job) -> ForkHandoff | None:
        """Parent side, before the fork: claim the row of a tracked job (None for other jobs).

        Any error (database unreachable) leaves the claim to the horse, which
        records what it can, exactly as before this hand-off existed.
        """
        background_job_id = (rq_job.meta or {}).get("background_job_id")
        if not background_job_id:
            return None  # periodic and raw RQ jobs: the horse does everything
        try:
            _drop_unusable_connections()
            row, skipped_status = _claim(background_job_id)
        except Exception:
            logger.exception("Could not claim job %s before starting it; the work-horse will try", background_job_id)
            close_old_connections()
            return None
        handoff = cls(rq_job.id, background_job_id, row, skipped_status)
        if row is not None:
            handoff.read_fd, handoff.write_fd = os.pipe()
            os.set_blocking(handoff.read_fd, False)
            os.set_blocking(handoff.write_fd, False)
        return handoff

    def in_horse_of(self, rq_job) -> bool:
        return rq_job is not None and rq_job.id == self.rq_job_id and os.getpid() != self.parent_pid

    def send(self, result: Any, progress: tuple[int, int] | None) -> bool:
        """Horse side: hand a successful result to the parent; False when it must be written here."""
        try:
            # The field's own encoder: what the pipe accepts is what the row can store.
            data = json.dumps({"result": result, "progress": progress}, cls=RESULT_ENCODER).encode()
            if len(data) > HANDOFF_MAX_BYTES:
                return False
            return os.write(self.write_fd, data) == len(data)
        except (TypeError, ValueError, OSError):
            return False

    def collect(self) -> None:
        """Parent side, once the horse has exited: record the completion it handed over, if any."""
        if self.row is None or self.read_fd < 0:
            return
        os.close(self.write_fd)
        self.write_fd = -1
        chunks = []
        try:
            while chunk := os.read(self.read_fd, 65536):
                chunks.append(chunk)
        except BlockingIOError:
            pass  # a process the horse forked still holds the write end
        finally:
            os.close(self.read_fd)
            self.read_fd = -1
        if not chunks:
            return  # failed, killed, or recorded by the horse itself
        try:
            outcome = json.loads(b"".join(chunks))
        except ValueError:
            return  # a partial write: the horse fell back to writing the row itself
        try:
            _drop_unusable_connections()
            completions.record(
                services.Completion(
                    job_id=self.background_job_id,
                    result=outcome["result"],
                    progress=outcome["progress"],
                    watched=self.row.user_id is not None,
                )
            )
        except Exception:
            # The reconciler completes the row from RQ's copy of the result.
            logger.exception("Could not record the completion of job %s", self.background_job_id)
            close_old_connections()

    def discard(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


#: Set by the forking worker around each fork; inherited by the horse.
_handoff: ForkHandoff | None = None


def set_fork_handoff(handoff: ForkHandoff | None) -> None:
    global _handoff
    _handoff = handoff


def current_fork_handoff() -> ForkHandoff | None:
    return _handoff


#: Connections inherited from the parent; referenced until the horse exits so
#: that nothing closes them (closing would end the parent's session, or for
#: SQLite checkpoint the WAL under the parent's feet).
_inherited: list[Any] = []


def forget_inherited_connections() -> None:
    """In a freshly forked horse: stop using the parent's database connections.

    Django opens new ones when the horse needs the database; the parent keeps
    using its own. Nothing is sent or closed on the inherited sockets.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None
    completions.forget()
    if _handoff is not None and _handoff.read_fd >= 0:
        os.close(_handoff.read_fd)
        _handoff.read_fd = -1


def run_tracked(spec: TaskSpec, background_job_id: str | None, kwargs: dict[str, Any]) -> Any:
    _drop_unusable_connections()
    rq_job = get_current_job()
    queue = rq_job.origin if rq_job else spec.queue
    handoff = _handoff if _handoff is not None and _handoff.in_horse_of(rq_job) else None
    if background_job_id is None:
        # Periodic jobs are enqueued by rq-scheduler under a fixed RQ id; each run
        # gets a row of its own.
        row = services.background_job_create_running(
            job_type=spec.job_type,
            rq_job_id=rq_job.id if rq_job else "",
            queue=queue,
            params=kwargs,
        )
    else:
        if handoff is not None and handoff.background_job_id == background_job_id:
            row, skipped_status = handoff.row, handoff.skipped_status
        else:
            handoff = None
            row, skipped_status = _claim(background_job_id)
        if row is None:
            logger.warning(
                "[queue %s] job %s (%s) not started: row is %s",
                queue,
                background_job_id,
                spec.job_type,
                skipped_status,
            )
            return {"skipped": f"row is {skipped_status}"}

    logger.info(
        "[queue %s] job %s (%s) started, attempt %d",
        queue,
        row.job_id,
        spec.job_type,
        row.attempts,
    )
    started = time.monotonic()
    context = JobContext(row)
    try:
        result = spec.body(context, **kwargs)
    except Exception as exc:
        timeout = rq_job.timeout if rq_job else None
        final = is_final_attempt(rq_job)
        message = describe_failure(exc, timeout=timeout)
        logger.error(
            "[queue %s] job %s (%s) failed%s: %s",
            queue,
            row.job_id,
            spec.job_type,
            "" if final else " (will retry)",
            message,
        )
        close_old_connections()
        services.background_job_record_failure(job_id=row.job_id, error=message, final=final)
        raise
    if handoff is None or not handoff.send(result, context.reported):
        completions.record(
            services.Completion(
                job_id=row.job_id, result=result, progress=context.reported, watched=row.user_id is not None
            )
        )
    logger.info(
        "[queue %s] job %s (%s) completed in %.2f s",
        queue,
        row.job_id,
        spec.job_type,
        time.monotonic() - started,
    )
    return result
