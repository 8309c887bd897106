"""Crash and shutdown behaviour with real worker processes on a real Redis.

A worker is `manage.py rqworker` in its own session; the tests kill it with
SIGKILL or stop it with SIGTERM and check what the row says afterwards. The
heartbeat settings are shortened (monitoring interval 1 s, grace 3 s) so a
dead worker is recognised within seconds instead of the production 30 s.
"""

import os
import signal

import pytest

from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import WORKER_STOPPED, background_jobs_reconcile
from jobs.services import background_job_retry, background_job_start
from jobs.tests import tasks  # noqa: F401
from jobs.tests.utils import WorkerProcess, wait_for, work_burst

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST_HEARTBEAT = {"RQ_JOB_MONITORING_INTERVAL": "1", "RQ_WORKER_TTL": "15"}


@pytest.fixture
def worker_factory(manage_py, subprocess_env, tmp_path):
    started = []

    def start(name="worker"):
        worker = WorkerProcess(manage_py, subprocess_env, extra_env=FAST_HEARTBEAT, log_path=tmp_path / f"{name}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _status(job):
    return BackgroundJob.objects.values_list("status", flat=True).get(pk=job.pk)


def _start_waiting_job(user, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    job = background_job_start(
        job_type="test_wait", user=user, params={"started": str(started), "release": str(release)}
    )
    return job, started, release


def test_killed_worker_is_failed_by_reconciler_and_retry_completes_on_new_worker(
    redis_conn, user, tmp_path, fast_reconciler, worker_factory
):
    job, started, release = _start_waiting_job(user, tmp_path)
    worker = worker_factory("first")
    wait_for(lambda: started.exists() and _status(job) == JobStatus.RUNNING, what="job running")
    horse_pid = int(started.read_text())

    # kill -9 the worker, then its work-horse (own process group): nothing in
    # RQ or ScribesWorker gets to record anything.
    worker.signal(signal.SIGKILL)
    worker.wait()
    os.kill(horse_pid, signal.SIGKILL)

    def reconciled():
        background_jobs_reconcile()
        return _status(job) == JobStatus.FAILED

    wait_for(reconciled, timeout=30, interval=0.5, what="reconciler to fail the row")
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.error_message.startswith(WORKER_STOPPED)
    event = row.events.get()
    assert (event.source, event.status_before, event.status_after) == ("reconciler", "running", "failed")

    # A retry is a new attempt of the same row, run by a new worker.
    release.touch()
    assert background_job_retry(job_rows=BackgroundJob.objects.filter(pk=job.pk), reason="operator retry") == 1
    worker_factory("second")
    wait_for(lambda: _status(job) == JobStatus.COMPLETED, what="retried job to complete")
    row.refresh_from_db()
    assert row.attempts == 2
    assert row.result_data == {"released": True}
    assert list(row.events.values_list("action", flat=True)) == ["reconcile", "retry"]


def test_reconciler_never_touches_a_job_that_is_genuinely_running(
    redis_conn, user, tmp_path, fast_reconciler, worker_factory
):
    import time

    job, started, release = _start_waiting_job(user, tmp_path)
    worker_factory()
    wait_for(lambda: started.exists() and _status(job) == JobStatus.RUNNING, what="job running")

    # Reconcile repeatedly for longer than the dead-worker deadline (1 + 3 s):
    # the worker keeps heart-beating, so the row must be left alone.
    end = time.monotonic() + 6
    passes = 0
    while time.monotonic() < end:
        assert background_jobs_reconcile() == []
        passes += 1
        time.sleep(0.5)
    assert passes >= 5
    assert _status(job) == JobStatus.RUNNING
    release.touch()
    wait_for(lambda: _status(job) == JobStatus.COMPLETED, what="job to complete")
    assert not BackgroundJob.objects.get(pk=job.pk).events.exists()


def test_sigterm_to_worker_main_process_lets_the_job_finish(redis_conn, user, tmp_path, worker_factory):
    job, started, release = _start_waiting_job(user, tmp_path)
    worker = worker_factory()
    wait_for(lambda: started.exists() and _status(job) == JobStatus.RUNNING, what="job running")

    worker.signal(signal.SIGTERM)  # warm shutdown: finish the current job, take no new one
    release.touch()
    assert worker.wait(timeout=30) == 0
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED
    assert row.result_data == {"released": True}


def test_redis_flushed_with_jobs_queued_reconciler_reenqueues_and_they_complete(redis_conn, user, fast_reconciler):
    jobs = [background_job_start(job_type="test_progress", user=user, params={"steps": 2}) for _ in range(3)]
    redis_conn.flushdb()  # what a Redis restart without persistence does

    repairs = background_jobs_reconcile()
    assert sorted(repair.job_id for repair in repairs) == sorted(str(job.job_id) for job in jobs)
    assert {repair.action for repair in repairs} == {"reenqueued"}
    work_burst()
    assert set(BackgroundJob.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}


def test_reconciler_runs_as_the_periodic_task_through_a_worker(redis_conn, user, fast_reconciler):
    import django_rq

    from common import queues
    from jobs.schedules import SCHEDULE_ID_PREFIX
    from jobs.tasks import RECONCILE_JOB_TYPE, reconcile_jobs

    lost = BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING, rq_job_id="gone"
    )
    # What rq-scheduler enqueues each minute: the entry point without a row id.
    django_rq.get_queue(queues.SYSTEM).enqueue_call(
        func=reconcile_jobs, job_id=f"{SCHEDULE_ID_PREFIX}{RECONCILE_JOB_TYPE}", meta={"periodic": True}
    )
    work_burst()
    run = BackgroundJob.objects.get(job_type=RECONCILE_JOB_TYPE)
    assert run.status == JobStatus.COMPLETED  # it did not fail its own row
    assert run.result_data["repaired"] == 1 and run.result_data["by_action"] == {"failed": 1}
    assert BackgroundJob.objects.get(pk=lost.pk).status == JobStatus.FAILED
