"""The forking worker: the horse writes the row's transitions on its own connection; none crosses a fork."""

import pytest
from django.db import connection, connections
from rq import SimpleWorker

from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def _row(job_row) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job_row.pk)


def test_a_forked_job_is_claimed_and_completed_with_its_last_figures(redis_conn, user):
    job_rows = [background_job_start(job_type="test_db_free", user=user) for _ in range(3)]
    work_burst()
    for job_row in job_rows:
        row = _row(job_row)
        assert row.status == JobStatus.COMPLETED
        # The last progress reported (not written: the job beat the interval) lands with the completion.
        assert (row.processed_items, row.total_items, row.progress_percent) == (3, 3, 100)
        assert row.attempts == 1 and row.started_at and row.completed_at


def test_no_database_connection_crosses_a_fork(redis_conn, user):
    from django_rq import get_worker

    from common import queues

    background_job_start(job_type="test_db_free", user=user)
    connection.ensure_connection()  # the worker's main process holds one before the first job
    get_worker(*queues.ALL).work(burst=True, with_scheduler=False, logging_level="WARNING")
    # Closed before the fork, so the horse never shared it; the horse opened its own.
    assert all(conn.connection is None for conn in connections.all(initialized_only=True))
    assert BackgroundJob.objects.get().result_data["horse_connected"] is True


def test_row_no_longer_queued_is_not_claimed_and_not_run(redis_conn, user):
    job_row = background_job_start(job_type="test_db_free", user=user)
    # An operator's cancel that raced the dequeue: the row moved, the RQ job is still queued.
    BackgroundJob.objects.filter(pk=job_row.pk).update(status=JobStatus.CANCELLED)
    work_burst()
    row = _row(job_row)
    assert row.status == JobStatus.CANCELLED and row.attempts == 0 and row.result_data is None


def test_failure_in_a_forked_job_is_recorded_by_the_horse(redis_conn, user):
    job_row = background_job_start(job_type="test_fail", user=user, params={"message": "no"})
    work_burst()
    row = _row(job_row)
    assert (row.status, row.error_message) == (JobStatus.FAILED, "ValueError: no")


def test_simple_worker_runs_the_whole_lifecycle_in_process(redis_conn, user):
    job_row = background_job_start(job_type="test_db_free", user=user)
    work_burst(worker_class=SimpleWorker)
    row = _row(job_row)
    assert row.status == JobStatus.COMPLETED and row.result_data["horse_connected"] is True
