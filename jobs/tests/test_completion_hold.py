"""A Scribes worker holds a job's completion until its next claim, and never longer than it must."""

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from jobs import runner, services
from jobs.models import BackgroundJob, JobStatus
from jobs.services import Completion, background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst
from jobs.worker import ScribesSimpleWorker, ScribesWorker
from scribes import queues

# Transactional: the worker's connection checks close a connection left inside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_hold_left_behind():
    yield
    runner.completions.forget()


def _row(job_type="test_progress", *, user=None, status=JobStatus.RUNNING) -> BackgroundJob:
    return BackgroundJob.objects.create(job_type=job_type, user=user, queue=queues.DEFAULT, status=status)


def _reload(row) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=row.pk)


def _writes(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if "jobs_backgroundjob" in query["sql"]]


# --- the claim that carries a completion ------------------------------------------------------


def test_a_claim_writes_the_previous_jobs_completion_along(user):
    finished, queued = _row(user=user), _row(user=user, status=JobStatus.QUEUED)
    finished_at = timezone.now() - timedelta(seconds=5)
    completing = Completion(job_id=finished.pk, result={"n": 1}, progress=(3, 4), finished_at=finished_at)
    with CaptureQueriesContext(connection) as captured:
        claimed = services.background_job_start_running(job_id=queued.pk, completing=completing)
    assert claimed.pk == queued.pk and claimed.status == JobStatus.RUNNING and claimed.attempts == 1
    done = _reload(finished)
    assert (done.status, done.result_data, done.completed_at) == (JobStatus.COMPLETED, {"n": 1}, finished_at)
    assert (done.processed_items, done.total_items, done.progress_percent) == (4, 4, 100)
    # One round trip on PostgreSQL; SQLite (in-process) runs the two statements.
    assert len(_writes(captured)) == (1 if connection.vendor == "postgresql" else 2)


def test_the_completion_is_written_even_when_the_row_to_claim_is_not_queued(user):
    finished, cancelled = _row(user=user), _row(user=user, status=JobStatus.CANCELLED)
    completing = Completion(job_id=finished.pk, result={"ok": True})
    assert services.background_job_start_running(job_id=cancelled.pk, completing=completing) is None
    assert _reload(finished).status == JobStatus.COMPLETED
    assert _reload(cancelled).status == JobStatus.CANCELLED and _reload(cancelled).attempts == 0


def test_a_carried_completion_never_overwrites_a_row_that_left_running(user, caplog):
    # An operator marked it failed while the worker held its completion.
    failed, queued = _row(user=user, status=JobStatus.FAILED), _row(user=user, status=JobStatus.QUEUED)
    completing = Completion(job_id=failed.pk, result={"late": True})
    with caplog.at_level(logging.WARNING, logger="jobs.services"):
        claimed = services.background_job_start_running(job_id=queued.pk, completing=completing)
    assert claimed is not None
    assert _reload(failed).status == JobStatus.FAILED and _reload(failed).result_data is None
    assert f"Job {failed.pk} finished, but its row was no longer running" in caplog.text


# --- the hold itself -------------------------------------------------------------------------


def test_outside_a_scribes_worker_a_completion_is_written_at_once(user):
    row = _row(user=user)
    runner.completions.record(Completion(job_id=row.pk, result={"n": 1}))
    assert runner.completions.held is None and _reload(row).status == JobStatus.COMPLETED


def test_a_held_completion_waits_for_a_claim_or_a_flush(user):
    first, second = _row(user=user), _row(user=user)
    runner.completions.start()
    runner.completions.record(Completion(job_id=first.pk, result={"n": 1}))
    assert _reload(first).status == JobStatus.RUNNING
    # A second completion with no claim in between writes the first one: never two held.
    runner.completions.record(Completion(job_id=second.pk, result={"n": 2}))
    assert _reload(first).status == JobStatus.COMPLETED and _reload(second).status == JobStatus.RUNNING
    runner.completions.stop()
    assert _reload(second).status == JobStatus.COMPLETED
    assert runner.completions.held is None and not runner.completions.enabled


def test_a_flush_that_fails_is_logged_and_left_to_the_reconciler(user, monkeypatch, caplog):
    row = _row(user=user)
    runner.completions.start()
    runner.completions.record(Completion(job_id=row.pk, result={"n": 1}))

    def unreachable(completion):
        raise OperationalError("database unreachable")

    monkeypatch.setattr(services, "background_job_record_completion", unreachable)
    with caplog.at_level(logging.ERROR, logger="jobs.runner"):
        runner.completions.flush()
    assert runner.completions.held is None and _reload(row).status == JobStatus.RUNNING
    assert f"Could not record the completion of job {row.pk}" in caplog.text


def test_a_claim_whose_carried_completion_fails_writes_them_apart(user, monkeypatch, caplog):
    finished, queued = _row(user=user), _row(user=user, status=JobStatus.QUEUED)
    original = services.background_job_start_running

    def combined_fails(*, job_id, completing=None):
        if completing is not None:
            raise OperationalError("statement failed")
        return original(job_id=job_id)

    monkeypatch.setattr(services, "background_job_start_running", combined_fails)
    runner.completions.start()
    runner.completions.record(Completion(job_id=finished.pk, result={"n": 1}))
    with caplog.at_level(logging.WARNING, logger="jobs.runner"):
        row, skipped = runner._claim(str(queued.pk))
    assert row.pk == queued.pk and skipped == ""
    assert _reload(finished).status == JobStatus.COMPLETED
    assert "writing them separately" in caplog.text


def test_a_result_the_row_cannot_store_fails_its_own_job_not_the_next(redis_conn, user):
    bad = background_job_start(job_type="test_unstorable", user=user)
    good = background_job_start(job_type="test_db_free", user=user)
    work_burst(worker_class=ScribesSimpleWorker)
    assert _reload(bad).status == JobStatus.FAILED and "JSON serializable" in _reload(bad).error_message
    assert _reload(good).status == JobStatus.COMPLETED


# --- the worker loop -------------------------------------------------------------------------


def _worker(worker_class=ScribesSimpleWorker):
    from django_rq import get_worker

    worker = get_worker(*queues.ALL, worker_class=worker_class)
    worker.register_birth()  # what work() does first; its loop is driven by hand here
    worker.last_cleaned_at = rq_now()  # as after the loop's first maintenance pass
    return worker


@pytest.mark.parametrize("worker_class", [ScribesSimpleWorker, ScribesWorker], ids=["simple", "forking"])
def test_each_claim_carries_the_previous_completion_and_shutdown_writes_the_last(redis_conn, user, worker_class):
    jobs = [background_job_start(job_type="test_db_free", user=user) for _ in range(4)]
    with CaptureQueriesContext(connection) as captured:
        work_burst(worker_class=worker_class)
    for job in jobs:
        row = _reload(job)
        assert row.status == JobStatus.COMPLETED and row.result_data["pad"] == ""
    carried = [sql for sql in _writes(captured) if sql.startswith("WITH done AS")]
    assert len(carried) == (3 if connection.vendor == "postgresql" else 0)
    assert runner.completions.held is None and not runner.completions.enabled


def test_the_held_completion_is_written_before_the_worker_waits_for_work(redis_conn, user):
    finished = _row(user=user)
    worker = _worker()
    runner.completions.start()
    runner.completions.record(Completion(job_id=finished.pk, result={"n": 1}))
    # Empty queue: a blocking wait follows, so the completion goes first.
    assert worker.dequeue_job_and_maintain_ttl(1, max_idle_time=1) is None
    assert _reload(finished).status == JobStatus.COMPLETED


def test_a_waiting_job_takes_the_held_completion_with_its_claim(redis_conn, user):
    finished = _row(user=user)
    job = background_job_start(job_type="test_db_free", user=user)
    worker = _worker()
    runner.completions.start()
    runner.completions.record(Completion(job_id=finished.pk, result={"n": 1}))
    rq_job, queue = worker.dequeue_job_and_maintain_ttl(1)
    assert rq_job.id == str(job.pk)
    assert _reload(finished).status == JobStatus.RUNNING  # still held: the claim carries it
    worker.execute_job(rq_job, queue)
    assert _reload(finished).status == JobStatus.COMPLETED
    assert _reload(job).status == JobStatus.RUNNING  # its own completion is held now
    runner.completions.stop()
    assert _reload(job).status == JobStatus.COMPLETED


def test_maintenance_suspension_and_jobs_without_a_row_write_the_held_completion(redis_conn, user):
    import django_rq

    worker = _worker()
    runner.completions.start()
    first, second, third = _row(user=user), _row(user=user), _row(user=user)
    runner.completions.record(Completion(job_id=first.pk, result={"n": 1}))
    worker.set_state(WorkerStatus.SUSPENDED)
    assert _reload(first).status == JobStatus.COMPLETED

    # Maintenance (registry clean-up) runs inside the next dequeue, before any claim.
    background_job_start(job_type="test_db_free", user=user)
    runner.completions.record(Completion(job_id=third.pk, result={"n": 3}))
    worker.last_cleaned_at = None
    assert worker.dequeue_job_and_maintain_ttl(1) is not None
    assert _reload(third).status == JobStatus.COMPLETED

    # A job without a row (here a plain function) has no claim to carry it.
    runner.completions.record(Completion(job_id=second.pk, result={"n": 2}))
    plain = django_rq.get_queue(queues.DEFAULT).enqueue("builtins.len", [1, 2])
    worker.execute_job(plain, django_rq.get_queue(queues.DEFAULT))
    assert _reload(second).status == JobStatus.COMPLETED
