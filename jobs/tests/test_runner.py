"""The tracked-job core end to end: a real forking worker on a real Redis."""

import pytest
from rq.job import Job

from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_job_completes_and_row_says_so(redis_conn, user):
    job = background_job_start(job_type="test_progress", user=user, params={"steps": 5})
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert Job.fetch(str(job.job_id), connection=redis_conn).get_status() == "queued"

    work_burst()

    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED
    assert row.result_data == {"steps": 5}
    assert (row.processed_items, row.total_items, row.progress_percent) == (5, 5, 100)
    assert row.attempts == 1
    assert row.started_at and row.completed_at and row.completed_at >= row.started_at
    assert row.error_message == ""


def test_job_that_raises_ends_failed_with_its_message(redis_conn, user):
    job = background_job_start(job_type="test_fail", user=user, params={"message": "disk on fire"})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED
    assert row.error_message == "ValueError: disk on fire"
    assert row.completed_at is not None
    # RQ recorded the failure too.
    assert Job.fetch(str(job.job_id), connection=redis_conn).get_status() == "failed"


def test_job_over_its_timeout_ends_failed_with_timed_out(redis_conn, user):
    job = background_job_start(job_type="test_sleep", user=user, params={"seconds": 30})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED
    assert "timed out" in row.error_message
    assert "1 s" in row.error_message


def test_killed_work_horse_ends_failed(redis_conn, user):
    job = background_job_start(job_type="test_suicide", user=user)
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED
    assert "Work-horse terminated unexpectedly by signal SIGKILL" in row.error_message


def test_plain_rq_worker_would_leave_killed_horse_row_running(redis_conn, user):
    # Why RQ["WORKER_CLASS"] is ScribesWorker (and jobs.E005 enforces it): RQ's
    # own worker runs no callback when the horse is killed.
    from rq import Worker

    job = background_job_start(job_type="test_suicide", user=user)
    work_burst(worker_class=Worker)
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_retry_moves_row_back_to_queued_then_completes(redis_conn, user, tmp_path):
    job = background_job_start(job_type="test_flaky", user=user, params={"marker": str(tmp_path / "m")})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED
    assert row.attempts == 2
    assert row.result_data == {"attempt": "second"}


def test_cancelled_row_is_not_run(redis_conn, user):
    job = background_job_start(job_type="test_progress", user=user)
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.CANCELLED
    assert row.started_at is None


def test_unimportable_function_still_fails_the_row(redis_conn, user):
    import django_rq
    from rq import Callback

    from common import queues

    row = BackgroundJob.objects.create(job_type="test_progress", queue=queues.SYSTEM, user=user)
    row.rq_job_id = str(row.job_id)
    row.save()
    django_rq.get_queue(queues.SYSTEM).enqueue_call(
        func="jobs.tests.tasks.no_such_function",
        kwargs={"background_job_id": str(row.job_id)},
        job_id=row.rq_job_id,
        on_failure=Callback("jobs.callbacks.on_job_failure"),
        meta={"background_job_id": str(row.job_id)},
    )
    work_burst()
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert "no_such_function" in row.error_message
