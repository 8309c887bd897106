"""Garbage on the queue: logged, reported by doctor, and the worker keeps serving."""

import django_rq
import pytest

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401
from jobs.tests.utils import work_burst
from operations.diagnostics import check_queue_lengths

pytestmark = pytest.mark.django_db(transaction=True)


def _untracked(findings):
    return [f for f in findings if f.name == "queues:untracked-failures"]


def test_unknown_function_and_unreadable_payload_are_skipped_and_reported(redis_conn, user):
    queue = django_rq.get_queue(queues.SYSTEM)
    queue.enqueue_call(func="scribes.no_such_module.vanished_task", job_id="garbage-unknown-function")
    queue.enqueue_call(func="jobs.tests.tasks.progress_task", job_id="garbage-bad-payload")
    redis_conn.hset("rq:job:garbage-bad-payload", "data", b"\x00not a pickle")
    redis_conn.rpush(f"rq:queue:{queues.SYSTEM}", "garbage-id-without-a-job-hash")
    good = background_job_start(job_type="test_progress", user=user)
    assert _untracked(check_queue_lengths()) == []

    work_burst()

    assert BackgroundJob.objects.get(pk=good.pk).status == JobStatus.COMPLETED
    failed = set(queue.failed_job_registry.get_job_ids())
    assert {"garbage-unknown-function", "garbage-bad-payload"} <= failed
    (finding,) = _untracked(check_queue_lengths())
    assert finding.level == "WARN"
    reasons = {item["rq_job_id"]: item["reason"] for item in finding.data["jobs"]}
    assert (
        "vanished_task" in reasons["garbage-unknown-function"]
        or "no_such_module" in reasons["garbage-unknown-function"]
    )
    assert "garbage-bad-payload" in reasons
    assert finding.fix


def test_tracked_failures_are_not_reported_as_untracked(redis_conn, user):
    background_job_start(job_type="test_fail", user=user)
    work_burst()
    assert _untracked(check_queue_lengths()) == []
