"""Services of the job core, on fakeredis: enqueue after commit, state transitions."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from common import queues
from jobs import services
from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.tests import tasks  # noqa: F401

pytestmark = pytest.mark.django_db


def test_start_enqueues_only_after_commit(fake_redis, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.background_job_start(job_type="test_progress", user=user, params={"steps": 2})
    assert fake_redis.llen(f"rq:queue:{queues.SYSTEM}") == 0
    for callback in callbacks:
        callback()
    assert fake_redis.llen(f"rq:queue:{queues.SYSTEM}") == 1
    rq_job = Job.fetch(str(job.job_id), connection=fake_redis)
    assert rq_job.func_name == "jobs.tests.tasks.progress_task"
    assert rq_job.kwargs == {"background_job_id": str(job.job_id), "steps": 2}
    assert rq_job.origin == queues.SYSTEM
    assert rq_job.meta["background_job_id"] == str(job.job_id)
    row = BackgroundJob.objects.get(pk=job.pk)
    assert (row.status, row.queue, row.rq_job_id) == (
        JobStatus.QUEUED,
        queues.SYSTEM,
        str(job.job_id),
    )


def test_sleep_task_carries_its_own_timeout(fake_redis, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.background_job_start(job_type="test_sleep", user=user)
    assert Job.fetch(str(job.job_id), connection=fake_redis).timeout == 1


def test_redis_down_at_enqueue_fails_row_and_raises(monkeypatch, user, django_capture_on_commit_callbacks):
    import django_rq.queues

    class DownQueue:
        def enqueue_call(self, **kwargs):
            raise RedisConnectionError("Connection refused")

    monkeypatch.setattr("jobs.services.starting.django_rq.get_queue", lambda name: DownQueue())
    assert django_rq.queues  # imported for the patch target's module
    with pytest.raises(services.JobEnqueueError):
        with django_capture_on_commit_callbacks(execute=True):
            services.background_job_start(job_type="test_progress", user=user)
    row = BackgroundJob.objects.get()
    assert row.status == JobStatus.FAILED
    assert "Redis unavailable" in row.error_message


def test_unknown_job_type_is_refused(user):
    from jobs.registry import UnknownJobType

    with pytest.raises(UnknownJobType):
        services.background_job_start(job_type="no_such_type", user=user)
    assert not BackgroundJob.objects.exists()


def _running_row(user, **extra):
    return BackgroundJob.objects.create(
        job_type="test_progress",
        user=user,
        queue=queues.SYSTEM,
        status=JobStatus.RUNNING,
        **extra,
    )


def test_progress_is_monotonic_and_percent_derived(user):
    row = _running_row(user)
    services.background_job_set_progress(job_id=row.pk, processed=50, total=200)
    services.background_job_set_progress(job_id=row.pk, processed=20, total=200)  # late, smaller
    row.refresh_from_db()
    assert (row.processed_items, row.total_items, row.progress_percent) == (50, 200, 25)
    services.background_job_set_progress(job_id=row.pk, processed=200, total=200)
    row.refresh_from_db()
    assert row.progress_percent == 100


def test_progress_is_one_query(user, django_assert_num_queries):
    row = _running_row(user)
    with django_assert_num_queries(1):
        services.background_job_set_progress(job_id=row.pk, processed=1, total=2)


def test_late_finish_cannot_overwrite_a_failed_row(user):
    row = _running_row(user)
    services.background_job_mark_failed(job_rows=BackgroundJob.objects.filter(pk=row.pk), reason="stuck", source="test")
    assert services.background_job_record_completion(job_id=row.pk, result={"late": True}) is False
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.result_data is None


def test_mark_failed_records_audit_and_skips_final_rows(user, django_capture_on_commit_callbacks):
    running = _running_row(user)
    done = BackgroundJob.objects.create(
        job_type="test_progress",
        user=user,
        queue=queues.SYSTEM,
        status=JobStatus.COMPLETED,
    )
    with django_capture_on_commit_callbacks(execute=False):
        n = services.background_job_mark_failed(
            job_rows=BackgroundJob.objects.all(),
            reason="Worker stopped unexpectedly",
            by=user,
        )
    assert n == 1
    running.refresh_from_db()
    done.refresh_from_db()
    assert running.status == JobStatus.FAILED and running.error_message == "Worker stopped unexpectedly"
    assert done.status == JobStatus.COMPLETED
    event = BackgroundJobEvent.objects.get()
    assert (event.job_id, event.actor, event.status_before, event.status_after) == (
        running.pk,
        user,
        JobStatus.RUNNING,
        JobStatus.FAILED,
    )


def test_non_final_failure_requeues_row(user):
    row = _running_row(user)
    services.background_job_record_failure(job_id=row.pk, error="ValueError: x", final=False)
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert row.error_message == "Retrying after: ValueError: x"


def test_error_message_is_capped(user):
    row = _running_row(user)
    services.background_job_record_failure(job_id=row.pk, error="x" * 10_000, final=True)
    row.refresh_from_db()
    assert len(row.error_message) == services.ERROR_MESSAGE_MAX
