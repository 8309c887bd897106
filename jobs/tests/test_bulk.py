"""Bulk fan-out: `background_job_start_many` makes the rows and RQ jobs `background_job_start` makes."""

import pytest
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job

from jobs.models import BackgroundJob, JobStatus
from jobs.registry import get_task
from jobs.services import JobEnqueueError, background_job_start, background_job_start_many
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def round_trips(monkeypatch):
    """Count Redis round trips: one per packed send (a pipeline is one)."""
    calls = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        calls.append(1)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return calls


def _rq_fields(job: Job) -> dict:
    return {
        "func_name": job.func_name,
        "origin": job.origin,
        "timeout": job.timeout,
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "failure_callback": job.failure_callback,
        "retries_left": job.retries_left,
        "status": job.get_status(),
    }


def test_rows_and_rq_jobs_match_the_one_by_one_path(redis_conn, user, other_user):
    spec = get_task("test_progress")
    single = background_job_start(job_type="test_progress", user=user, params={"steps": 2})

    jobs = background_job_start_many(
        job_type="test_progress",
        items=[
            {"user": user, "params": {"steps": 1}},
            {"user": other_user, "params": {"steps": 3}},
            {"params": {"steps": 5}},
        ],
    )

    assert BackgroundJob.objects.count() == 4
    assert [(job.user, job.params) for job in jobs] == [
        (user, {"steps": 1}),
        (other_user, {"steps": 3}),
        (None, {"steps": 5}),
    ]
    reference = _rq_fields(Job.fetch(single.rq_job_id, connection=redis_conn))
    for job in jobs:
        row = BackgroundJob.objects.get(pk=job.pk)
        assert (row.status, row.queue, row.rq_job_id) == (JobStatus.QUEUED, spec.queue, str(row.job_id))
        rq_job = Job.fetch(row.rq_job_id, connection=redis_conn)
        assert rq_job.kwargs == {"background_job_id": str(row.job_id), **row.params}
        assert rq_job.meta == {"background_job_id": str(row.job_id), "job_type": "test_progress"}
        assert rq_job.description == f"test_progress {row.job_id}"
        assert rq_job.failure_callback.__name__ == "on_job_failure"
        assert _rq_fields(rq_job) == reference
    assert Queue(spec.queue, connection=redis_conn).job_ids == [single.rq_job_id] + [j.rq_job_id for j in jobs]


def test_one_pipeline_for_the_whole_batch(redis_conn, user, round_trips, monkeypatch):
    calls = []
    monkeypatch.setattr(Queue, "enqueue_call", lambda *a, **k: calls.append("enqueue_call"))
    items = [{"user": user, "params": {"steps": i}} for i in range(50)]
    background_job_start_many(job_type="test_progress", items=items[:1])  # connects (handshake, INFO)
    round_trips.clear()

    background_job_start_many(job_type="test_progress", items=items)

    assert calls == []  # never one by one
    assert len(round_trips) == 1  # MULTI ... EXEC of all 50 jobs, sent at once
    assert Queue(get_task("test_progress").queue, connection=redis_conn).count == 51


def test_one_insert_for_the_whole_batch(redis_conn, user):
    items = [{"user": user, "params": {"steps": i}} for i in range(20)]
    with CaptureQueriesContext(connection) as captured:
        background_job_start_many(job_type="test_progress", items=items)
    inserts = [q for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1


def test_enqueue_waits_for_the_outer_commit(redis_conn, user):
    queue = Queue(get_task("test_progress").queue, connection=redis_conn)
    with transaction.atomic():
        background_job_start_many(job_type="test_progress", items=[{"user": user}, {"user": user}])
        assert queue.count == 0
    assert queue.count == 2


def test_redis_refusing_the_batch_fails_every_row(redis_conn, user, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(Queue, "enqueue_many", refuse)
    with pytest.raises(JobEnqueueError):
        background_job_start_many(job_type="test_progress", items=[{"user": user}, {"user": user}])
    rows = BackgroundJob.objects.all()
    assert [row.status for row in rows] == [JobStatus.FAILED, JobStatus.FAILED]
    assert all("Redis unavailable" in row.error_message for row in rows)


def test_empty_batch_does_nothing(redis_conn, round_trips):
    assert background_job_start_many(job_type="test_progress", items=[]) == []
    assert BackgroundJob.objects.count() == 0 and round_trips == []


def test_bulk_started_jobs_run_to_completion(redis_conn, user):
    jobs = background_job_start_many(job_type="test_progress", items=[{"user": user, "params": {"steps": 3}}] * 3)
    work_burst()
    rows = BackgroundJob.objects.filter(pk__in=[job.pk for job in jobs])
    assert {(row.status, row.processed_items, row.total_items, row.progress_percent) for row in rows} == {
        (JobStatus.COMPLETED, 3, 3, 100)
    }
