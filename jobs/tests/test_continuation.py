"""A task that returns `Continue`: one row, several RQ jobs taking turns, on a real worker and Redis."""

import django_rq
import pytest
from django.db import connections
from django_rq import get_worker
from rq.job import Job

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import background_jobs_reconcile
from jobs.services import background_job_cancel, background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def _start(path, **params) -> BackgroundJob:
    return background_job_start(job_type="test_steps", params={"path": str(path), **params})


def _steps(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _one_job():
    connections.close_all()
    get_worker(queues.SYSTEM).work(burst=True, max_jobs=1, with_scheduler=False)


def test_a_continued_job_is_one_row_with_cumulative_progress(redis_conn, tmp_path):
    path = tmp_path / "steps.txt"
    job = _start(path)
    work_burst(queue_names=[queues.SYSTEM])
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED and row.result_data == {"steps": 3}
    assert (row.processed_items, row.total_items, row.attempts) == (3, 3, 1)
    assert _steps(path) == [f"{job.job_id}:{step}" for step in range(3)]
    # Each step was an RQ job of its own; the row points at the last one.
    assert row.rq_job_id != job.rq_job_id and row.rq_job_id.startswith(str(job.job_id))
    last = Job.fetch(row.rq_job_id, connection=redis_conn)
    assert last.func_name == "jobs.runner.run_continuation" and last.meta["continuation"] is True


def test_two_continued_jobs_take_turns(redis_conn, tmp_path):
    path = tmp_path / "steps.txt"
    first, second = _start(path), _start(path)
    work_burst(queue_names=[queues.SYSTEM])
    owners = [line.split(":")[0] for line in _steps(path)]
    assert owners == [str(first.job_id), str(second.job_id)] * 3


def test_between_steps_the_reconciler_leaves_the_row_alone_and_a_cancel_stops_it(redis_conn, tmp_path):
    path = tmp_path / "steps.txt"
    job = _start(path)
    _one_job()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.RUNNING and row.processed_items == 1
    assert Job.fetch(row.rq_job_id, connection=redis_conn).get_status() == "queued"
    assert background_jobs_reconcile() == []  # the next step waits its turn: nothing to repair

    assert background_job_cancel(job_rows=BackgroundJob.objects.filter(pk=job.pk), reason="test") == 1
    work_burst(queue_names=[queues.SYSTEM])
    assert _steps(path) == [f"{job.job_id}:0"]  # no step started after the cancel
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.CANCELLED and django_rq.get_queue(queues.SYSTEM).count == 0


def test_a_failed_step_is_retried_alone(redis_conn, tmp_path):
    path = tmp_path / "steps.txt"
    job = _start(path, fail_once_at=1)
    work_burst(queue_names=[queues.SYSTEM])
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED and row.attempts == 2
    # Step 0 ran once; step 1 failed and ran again; then step 2.
    assert [line.split(":")[1] for line in _steps(path)] == ["0", "1", "1", "2"]
    assert row.events.filter(action="attempt_failed").count() == 1
