"""Redis trouble the old service needed FLUSHDB or a restart for: the processes repair it."""

import pytest
from django_rq import get_scheduler, get_worker
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from common import queues
from jobs import rqkeys
from jobs.models import BackgroundJob, JobStatus
from jobs.schedules import SCHEDULE_ID_PREFIX, ScribesScheduler, all_periodic_jobs
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401
from jobs.tests.utils import work_burst
from operations.diagnostics import check_redis_key_types

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_quarantines_a_wrong_typed_queue_key_and_keeps_serving(redis_conn, user):
    queue_key = f"rq:queue:{queues.SYSTEM}"
    redis_conn.set(queue_key, "raw SET by a script")  # what raw key operations did

    assert check_redis_key_types().level == "FAIL"
    work_burst()  # RQ's own worker would log "unhandled exception, quitting"

    quarantined = [k.decode() for k in redis_conn.scan_iter(match=rqkeys.QUARANTINE_PREFIX + "*")]
    assert len(quarantined) == 1 and quarantined[0].startswith(rqkeys.QUARANTINE_PREFIX + queue_key)
    assert redis_conn.get(quarantined[0]) == b"raw SET by a script"  # data kept for inspection
    finding = check_redis_key_types()
    assert finding.level == "WARN" and quarantined[0] in finding.message

    job = background_job_start(job_type="test_progress", user=user)
    work_burst()
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED


def test_plain_rq_worker_stops_on_the_same_corruption(redis_conn, user):
    from rq import Worker

    redis_conn.set(f"rq:queue:{queues.SYSTEM}", "corrupt")
    worker = get_worker(*queues.ALL, worker_class=Worker)
    assert worker.work(burst=True, with_scheduler=False) is False
    assert not list(redis_conn.scan_iter(match=rqkeys.QUARANTINE_PREFIX + "*"))


def test_worker_registers_again_after_redis_lost_its_registration(redis_conn):
    worker = get_worker(*queues.ALL)
    worker.register_birth()
    redis_conn.flushdb()  # Redis restarted without persistence
    worker.heartbeat()
    assert redis_conn.hget(worker.key, "queues") == ",".join(queues.ALL).encode()
    assert redis_conn.sismember("rq:workers", worker.key)
    assert redis_conn.sismember(f"rq:workers:{queues.SYSTEM}", worker.key)
    assert redis_conn.ttl(worker.key) > 0


def test_scheduler_restores_its_key_and_periodic_entries_after_a_flush(redis_conn):
    scheduler = get_scheduler(queues.SYSTEM, interval=5)
    assert isinstance(scheduler, ScribesScheduler)
    scheduler.register_birth()
    assert all_periodic_jobs(), "reminder sweep and reconciler are periodic"
    redis_conn.flushdb()

    scheduler.heartbeat()
    assert redis_conn.exists(scheduler.key) and redis_conn.ttl(scheduler.key) > 0
    assert scheduler.ensure_periodic_jobs() is True
    entries = [m.decode() for m in redis_conn.zrange(scheduler.scheduled_jobs_key, 0, -1)]
    assert sorted(entries) == sorted(job.schedule_id for job in all_periodic_jobs())
    assert all(entry.startswith(SCHEDULE_ID_PREFIX) for entry in entries)
    assert scheduler.ensure_periodic_jobs() is False  # idempotent: nothing missing now


def test_scheduler_retries_when_redis_is_unreachable(redis_conn, monkeypatch):
    from django_rq.queues import DjangoScheduler

    calls = []

    def flaky_run(self, burst=False):
        calls.append(burst)
        if len(calls) < 3:
            raise RedisConnectionError("Connection refused")
        return "ran"

    monkeypatch.setattr(DjangoScheduler, "run", flaky_run)
    monkeypatch.setattr("jobs.schedules.time.sleep", lambda seconds: None)
    scheduler = get_scheduler(queues.SYSTEM, interval=5)
    assert scheduler.run(burst=True) == "ran"
    assert len(calls) == 3


@pytest.mark.slow
def test_flush_while_a_job_runs_keeps_the_job_and_the_reconciler_leaves_it_alone(
    redis_conn, user, fast_reconciler, manage_py, subprocess_env, tmp_path
):
    from jobs.reconciler import background_jobs_reconcile
    from jobs.tests.utils import WorkerProcess, wait_for

    job = background_job_start(job_type="test_progress", user=user, params={"steps": 16, "pause": 0.5})
    worker = WorkerProcess(
        manage_py,
        subprocess_env,
        extra_env={"RQ_JOB_MONITORING_INTERVAL": "1", "RQ_WORKER_TTL": "15", "SEMANTIC_EMBEDDER": "hashing"},
        log_path=tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: BackgroundJob.objects.get(pk=job.pk).status == JobStatus.RUNNING, timeout=60, what="start")
        # The row goes running before the fork; flush once the horse has started too.
        wait_for(lambda: redis_conn.hget(f"rq:job:{job.rq_job_id}", "status") == b"started", timeout=30, what="horse")
        redis_conn.flushdb()  # Redis restarted without persistence, mid-job
        wait_for(lambda: redis_conn.hexists(f"rq:job:{job.rq_job_id}", "data"), timeout=15, what="job record restored")
        assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.RUNNING  # restored while still running
        assert worker_name(redis_conn)  # registered again
        background_jobs_reconcile()
        assert BackgroundJob.objects.get(pk=job.pk).status in (JobStatus.RUNNING, JobStatus.COMPLETED)
        wait_for(lambda: BackgroundJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=60, what="done")
        assert redis_conn.sismember("rq:workers", f"rq:worker:{worker_name(redis_conn)}")
    finally:
        worker.stop()


def worker_name(connection) -> str:
    names = [key.decode().removeprefix("rq:worker:") for key in connection.smembers("rq:workers")]
    assert len(names) == 1, names
    return names[0]


@pytest.mark.parametrize("left_behind", ["nothing", "a partial hash"])
def test_re_registration_restores_the_running_jobs_record(redis_conn, user, left_behind):
    # A flush just before the horse marked its job started leaves only the
    # fields it wrote afterwards (status, worker): no payload, so the reconciler
    # would count the job as missing.
    from jobs.worker import ScribesWorker

    job = background_job_start(job_type="test_progress", user=user)
    rq_job = Job.fetch(job.rq_job_id, connection=redis_conn)
    worker = get_worker(queues.SYSTEM, worker_class=ScribesWorker)
    worker.register_birth()
    worker.heartbeat()
    redis_conn.flushdb()
    if left_behind == "a partial hash":
        redis_conn.hset(rq_job.key, mapping={"status": "started", "worker_name": worker.name})
    worker.register_again(60, rq_job=rq_job)
    restored = Job.fetch(job.rq_job_id, connection=redis_conn)
    assert redis_conn.hexists(rq_job.key, "data") and restored.get_status() == "started"
    assert restored.worker_name == worker.name
    assert redis_conn.sismember("rq:workers", worker.key)
