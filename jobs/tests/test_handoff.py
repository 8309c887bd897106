"""The forking worker's main process claims and completes rows; horses connect only when they must."""

import os

import pytest
from django.db import connection
from rq import SimpleWorker

from jobs import handoff
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def _row(job) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job.pk)


def test_horse_of_a_db_free_job_never_connects_and_the_parent_completes_the_row(redis_conn, user):
    jobs = [background_job_start(job_type="test_db_free", user=user) for _ in range(3)]
    work_burst()
    for job in jobs:
        row = _row(job)
        assert row.status == JobStatus.COMPLETED
        assert row.result_data == {"horse_connected": False, "pad": ""}
        # The last progress reported (not written: the job beat the interval) lands with the completion.
        assert (row.processed_items, row.total_items, row.progress_percent) == (3, 3, 100)
        assert row.attempts == 1 and row.started_at and row.completed_at
    assert handoff.current() is None


def test_parent_keeps_its_connection_between_jobs(redis_conn, user):
    for _ in range(2):
        background_job_start(job_type="test_db_free", user=user)
    work_burst()  # closes the test's connection first, then the worker (this process) opens one
    kept = connection.connection
    background_job_start(job_type="test_db_free", user=user)
    from django_rq import get_worker

    from scribes import queues

    get_worker(*queues.ALL).work(burst=True, with_scheduler=False, logging_level="WARNING")
    assert kept is not None and connection.connection is kept


def test_result_too_large_for_the_pipe_is_recorded_by_the_horse(redis_conn, user):
    size = handoff.HANDOFF_MAX_BYTES + 10
    job = background_job_start(job_type="test_db_free", user=user, params={"size": size})
    work_burst()
    row = _row(job)
    # Nothing went through the pipe, so the horse connected and wrote it all itself.
    assert row.status == JobStatus.COMPLETED and len(row.result_data["pad"]) == size


def test_row_no_longer_queued_is_not_claimed_and_not_run(redis_conn, user):
    job = background_job_start(job_type="test_db_free", user=user)
    # An operator's cancel that raced the dequeue: the row moved, the RQ job is still queued.
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    work_burst()
    row = _row(job)
    assert row.status == JobStatus.CANCELLED and row.attempts == 0 and row.result_data is None


def test_failure_in_a_handed_off_job_is_recorded_by_the_horse(redis_conn, user):
    job = background_job_start(job_type="test_fail", user=user, params={"message": "no"})
    work_burst()
    row = _row(job)
    assert (row.status, row.error_message) == (JobStatus.FAILED, "ValueError: no")


def test_simple_worker_runs_the_whole_lifecycle_in_process(redis_conn, user):
    job = background_job_start(job_type="test_db_free", user=user)
    work_burst(worker_class=SimpleWorker)
    row = _row(job)
    assert row.status == JobStatus.COMPLETED and row.result_data["horse_connected"] is True


def test_handoff_collect_reads_what_the_horse_sent(redis_conn, user):
    """The pipe protocol itself: what one side sends, the other records."""
    job = background_job_start(job_type="test_db_free", user=user)

    class RqJob:
        id = str(job.job_id)
        meta = {"background_job_id": str(job.job_id)}

    claimed = handoff.ForkHandoff.claim(RqJob)
    assert claimed.row is not None and _row(job).status == JobStatus.RUNNING
    pid = os.fork()
    if pid == 0:  # the horse
        os._exit(0 if claimed.send({"ok": 1}, (7, 9)) else 1)
    assert os.waitpid(pid, 0)[1] == 0
    claimed.collect()
    row = _row(job)
    assert (row.status, row.result_data, row.processed_items, row.total_items) == (
        JobStatus.COMPLETED,
        {"ok": 1},
        9,
        9,
    )
