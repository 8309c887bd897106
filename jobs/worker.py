"""The RQ worker class Scribes runs (`RQ["WORKER_CLASS"]`).

Adds to RQ's forking worker: a start-up banner that shows what this worker will
do (so an operator sees at once that API and worker agree), a handler for a
work-horse killed from outside (OOM killer, `kill -9`), which RQ reports without
running any callback, start-up hooks the apps register (`jobs.hooks`), and
resilience to Redis losing or corrupting its keys. The row's transitions are
written by the runner in the work-horse (`jobs.runner`), as django-rq runs a
job: no database connection crosses a fork. `ScribesSimpleWorker` is the same
worker without the fork.

Stopping a worker: send SIGTERM to the worker's main process only. RQ treats
the first SIGTERM as a warm shutdown: the current job finishes, no new one
starts, and the row ends completed or failed. A second SIGTERM (or a signal to
the work-horse itself) is a cold shutdown: the horse is killed, no callback runs,
and the reconciler fails or retries the row on its next pass. So supervisors
(docker `stop_grace_period`, systemd `KillMode=mixed`/`TimeoutStopSec`, Procfile
runners) must signal the main process and wait longer than the longest job.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from django.conf import settings
from django.db import close_old_connections
from django_rq.utils import reset_db_connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker, worker_registration
from rq.job import JobStatus

from common.env import mask_url
from jobs import rqkeys, services
from jobs.hooks import worker_hooks
from jobs.pausing import PausableQueue
from jobs.registry import all_tasks

logger = logging.getLogger("jobs.worker")


def banner_lines(queue_names: list[str]) -> list[str]:
    tasks = all_tasks()
    lines = [
        "Scribes worker starting up",
        f"Redis URL: {mask_url(settings.REDIS_URL)}",
        f"Queues: {', '.join(queue_names)}",
        f"Job timeout: {settings.JOB_TIMEOUT} s",
        f"Heartbeat: every {settings.RQ_JOB_MONITORING_INTERVAL} s while busy, worker TTL {settings.RQ_WORKER_TTL} s",
        f"Starting worker for {len(tasks)} functions: "
        + ", ".join(f"{spec.job_type} ({spec.dotted_name} on {spec.queue})" for spec in tasks),
    ]
    for spec in tasks:
        if spec.queue not in queue_names:
            lines.append(
                f"WARNING: task {spec.job_type} enqueues to {spec.queue!r}, which this worker does not listen on"
            )
    for hook in worker_hooks():
        if hook.banner is not None:
            try:
                lines.append(hook.banner())
            except Exception as exc:  # a banner line must never stop the worker
                lines.append(f"{hook.name}: banner failed ({type(exc).__name__}: {exc})")
        if hook.warm_up is not None:
            if hook.serves(queue_names):
                lines.append(f"Warm-up {hook.name}: loaded before the first job (kept for every job)")
            else:
                lines.append(f"Warm-up {hook.name}: not loaded (this worker serves none of {', '.join(hook.queues)})")
    return lines


def warm_up(queue_names) -> None:
    """Run the registered warm-ups (the embedding model) this worker's queues need, once, before any fork.

    Work-horses are forked per job; whatever the parent loaded they share
    copy-on-write instead of loading it again for every job. A worker on none
    of a hook's queues skips it: the system worker never imports torch.
    """
    for hook in worker_hooks():
        if hook.warm_up is None or not hook.serves(queue_names):
            continue
        try:
            hook.warm_up()
        except Exception:
            # A broken model must not stop the worker serving other job types; the
            # embedding jobs fail with the reason and /health reports it.
            logger.exception("Warm-up %s failed", hook.name)


class ScribesWorkerMixin:
    """What every Scribes worker adds to RQ's loop, forking or not (see the module doc)."""

    #: Skips paused queues when the worker dequeues (jobs.pausing).
    queue_class = PausableQueue

    def __init__(self, *args, **kwargs):
        # A busy worker heart-beats every job_monitoring_interval seconds; the
        # reconciler calls a worker dead when its heartbeat is older than that
        # plus JOBS_HEARTBEAT_GRACE, so this bounds how fast a kill is noticed.
        kwargs.setdefault("job_monitoring_interval", settings.RQ_JOB_MONITORING_INTERVAL)
        super().__init__(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's dequeue, surviving a wrong-typed key: quarantine it and keep serving.

        RQ's loop ends the worker on any unexpected Redis error, so one key
        corrupted by a raw LPUSH/SET would stop all processing until someone ran
        FLUSHDB, losing every job. The worker's own keys are checked first, then every `rq:*` key.
        """
        for attempt in range(3):
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except ResponseError as exc:
                if "WRONGTYPE" not in str(exc):
                    raise
                self.log.error(
                    "Worker %s: Redis answered %s while dequeuing; looking for corrupted keys", self.name, exc
                )
                wrong = rqkeys.wrong_type_keys(self.connection, rqkeys.worker_keys(self))
                if not wrong:
                    wrong = rqkeys.wrong_type_keys(self.connection, rqkeys.scan_rq_keys(self.connection))
                if not rqkeys.quarantine(self.connection, wrong):
                    time.sleep(min(2**attempt, 5))
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's heartbeat, plus re-registration when Redis lost our registration.

        After a Redis restart or flush the worker keeps working but is invisible
        (no `rq:worker:<name>` hash, not in `rq:workers`), so /health and the
        reconciler would call it dead. Membership of `rq:workers` is the test:
        RQ's busy heartbeat re-creates the hash but not the membership.
        """
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        # RQ's own heartbeat, written into one pipeline with the membership test.
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            pipe.sismember(self.redis_workers_keys, self.key)
            registered = pipe.execute()[-1]
        if not registered:
            self.register_again(timeout or self.worker_ttl + 60)

    def register_again(self, timeout: int, rq_job=None) -> None:
        """Write our registration back, and the running job's record if Redis lost it too.

        Without the job record the reconciler would see a running row whose RQ
        job is missing and fail a job that is in fact still running here.
        """
        self.log.warning("Worker %s: registration vanished from Redis (restart/flush?); registering again", self.name)
        with self.connection.pipeline() as pipe:
            pipe.delete(self.key)
            pipe.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipe)
            pipe.expire(self.key, timeout)
            pipe.execute()
        # A flush just before the horse marked the job started leaves a partial
        # hash (status, worker) without the payload: that needs restoring too.
        if rq_job is not None and not self.connection.hexists(rq_job.key, "data"):
            rq_job.worker_name = self.name
            with self.connection.pipeline() as pipe:
                rq_job.save(pipeline=pipe)
                rq_job.set_status(JobStatus.STARTED, pipeline=pipe)
                pipe.execute()
            self.log.warning("Worker %s: restored the record of running job %s", self.name, rq_job.id)

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        lines = banner_lines(self.queue_names())
        how = "in this process (no fork)" if isinstance(self, SimpleWorker) else "in a work-horse forked per job"
        lines.insert(3, f"Runs jobs: {how} ({type(self).__name__})")
        for line in lines:
            self.log.info(line)
        warm_up(self.queue_names())


class ScribesSimpleWorker(ScribesWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself (`rqworker --worker-class jobs.worker.ScribesSimpleWorker`).

    For platforms without fork() and for debugging. Jobs share the worker's
    process: one that crashes it or is killed by the OOM killer takes the worker
    down too (the reconciler then fails its row), and what a job leaks stays.
    """


class ScribesWorker(ScribesWorkerMixin, Worker):
    def maintain_heartbeats(self, rq_job, execution):
        """RQ's heart-beat while a horse works, surviving Redis going away meanwhile.

        RQ lets a connection error here end the worker ("unhandled exception,
        quitting") while its horse runs on unsupervised. The horse does not need
        Redis until it finishes, so the worker keeps waiting for it and beats
        again on the next interval; once Redis answers it registers again.
        """
        try:
            super().maintain_heartbeats(rq_job, execution)
            # RQ's busy heartbeat re-creates our hash after a flush but not our
            # place in `rq:workers`, which is what /health and the doctor read.
            registered = self.connection.sismember(self.redis_workers_keys, self.key)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self.log.warning(
                "Worker %s: heartbeat failed, Redis unreachable (%s); still watching job %s", self.name, exc, rq_job.id
            )
            return
        if not registered:
            self.register_again(self.job_monitoring_interval + 60, rq_job=rq_job)

    def execute_job(self, rq_job, queue):
        # django-rq's rule: no database connection crosses a fork. The horse
        # opens its own; this process holds one only after recording a killed horse.
        reset_db_connections()
        super().execute_job(rq_job, queue)

    def handle_work_horse_killed(self, rq_job, retpid, ret_val, rusage):
        """The horse died without running the runner's except-block or on_failure."""
        super().handle_work_horse_killed(rq_job, retpid, ret_val, rusage)
        signal_part = ""
        if ret_val and os.WIFSIGNALED(ret_val):
            signum = os.WTERMSIG(ret_val)
            try:
                signal_part = f" by signal {signal.Signals(signum).name}"
            except ValueError:
                signal_part = f" by signal {signum}"
        message = f"Work-horse terminated unexpectedly{signal_part} (killed from outside, e.g. out of memory)"
        final = not rq_job.should_retry
        try:
            close_old_connections()
            services.background_job_record_rq_failure(rq_job=rq_job, error=message, final=final)
        except Exception:
            # The reconciler repairs the row later; the worker must keep serving.
            logger.exception("Could not record killed work-horse for job %s", rq_job.id)
            close_old_connections()
        logger.error("[queue %s] job %s: %s", rq_job.origin, rq_job.id, message)
