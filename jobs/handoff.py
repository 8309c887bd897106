"""The forking worker's hand-off: its main process claims a job's row before the fork and records the completion.

The main process keeps its database connection between jobs; the horse of a
job that does not touch the database never opens one (a new connection and the
ORM's first-use work in a fresh process are a large share of a short forked
job, docs/PERFORMANCE.md). Failures are still recorded by the horse, which
connects when it needs to.

The main process writes nothing but job rows, so on PostgreSQL it commits them
asynchronously (`relaxed_commits`): the wait for the disk was most of what
tracking cost a forked job. A database crash within a fraction of a second of
such a commit can undo it; the reconciler then completes the row from the result
RQ keeps, which is why the rule requires RQ to keep results long enough.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created

from jobs import services
from jobs.models import RESULT_ENCODER, BackgroundJob

logger = logging.getLogger("jobs.handoff")

#: Shortest JOB_RESULT_TTL (seconds) for which the main process commits asynchronously:
#: the reconciler (every minute) must still find RQ's copy of a result a crash undid.
RELAXED_MIN_RESULT_TTL = 600

#: Longest result the horse hands to its parent through the pipe; a Linux pipe
#: holds 64 KiB, so a write this size into the empty pipe never blocks. A larger
#: result is recorded by the horse itself.
HANDOFF_MAX_BYTES = 48 * 1024


def relaxed_commits() -> bool:
    """The one rule for asynchronous commits: only the forking worker's main process, and only
    while RQ keeps results for at least RELAXED_MIN_RESULT_TTL."""
    return settings.JOB_RESULT_TTL >= RELAXED_MIN_RESULT_TTL


def relax_commits_in(pid: int) -> None:
    """Have every PostgreSQL connection process `pid` opens from now on commit asynchronously.

    Connected once, when the forking worker starts; horses are other processes
    and keep durable commits for what their tasks write.
    """

    def relax(sender, connection, **kwargs):
        if os.getpid() == pid and connection.vendor == "postgresql" and relaxed_commits():
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")

    connection_created.connect(relax, weak=False, dispatch_uid="jobs.handoff.relax_commits")
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:  # opened before, e.g. by the system checks
            relax(None, connection)


def claim_row(job_id: str) -> tuple[BackgroundJob | None, str]:
    """queued → running; (row, "") when claimed, else (None, the status it is in, or "missing")."""
    row = services.background_job_claim(job_id=job_id)
    if row is not None:
        return row, ""
    current = BackgroundJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    return None, current or "missing"


@dataclass
class ForkHandoff:
    """A row the worker's main process claimed for the horse it is about to fork.

    The horse inherits this object through fork(). When the body succeeds, the
    horse writes the result (JSON) into the pipe and the parent records the
    completion once the horse has exited; a failure is recorded by the horse
    and sends nothing.
    """

    rq_job_id: str
    job_id: str
    row: BackgroundJob | None
    skipped_status: str
    parent_pid: int = field(default_factory=os.getpid)
    read_fd: int = -1
    write_fd: int = -1

    @classmethod
    def claim(cls, rq_job) -> ForkHandoff | None:
        """Parent side, before the fork: claim the row of a tracked job (None for other jobs).

        Any error (database unreachable) leaves the claim to the horse, which
        records what it can.
        """
        job_id = (rq_job.meta or {}).get("background_job_id")
        if not job_id:
            return None  # periodic and raw RQ jobs: the horse does everything
        try:
            close_old_connections()
            row, skipped_status = claim_row(job_id)
        except Exception:
            logger.exception("Could not claim job %s before starting it; the work-horse will try", job_id)
            close_old_connections()
            return None
        handoff = cls(rq_job.id, job_id, row, skipped_status)
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
            # No close_old_connections() here: the claim used this connection
            # moments ago, and a failure below is left to the reconciler.
            services.background_job_record_completion(
                job_id=self.job_id, result=outcome["result"], progress=outcome["progress"]
            )
        except Exception:
            # The reconciler completes the row from RQ's copy of the result.
            logger.exception("Could not record the completion of job %s", self.job_id)
            close_old_connections()

    def discard(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


#: Set by the forking worker around each fork; inherited by the horse.
_current: ForkHandoff | None = None


def set_current(handoff: ForkHandoff | None) -> None:
    global _current
    _current = handoff


def current() -> ForkHandoff | None:
    return _current


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
    if _current is not None and _current.read_fd >= 0:
        os.close(_current.read_fd)
        _current.read_fd = -1
