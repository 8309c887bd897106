"""Progress writes are rate-limited; the completion records the last figures reported."""

import pytest

from common import queues
from jobs import runner
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_record_completion

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(runner.time, "monotonic", clock)
    return clock


def _running(user) -> BackgroundJob:
    return BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING
    )


def _figures(row) -> tuple[int, int, int]:
    row.refresh_from_db()
    return row.processed_items, row.total_items, row.progress_percent


def test_progress_is_written_at_most_once_per_interval(user, settings, clock, django_assert_num_queries):
    settings.JOBS_PROGRESS_INTERVAL_MS = 500
    row = _running(user)
    job = runner.JobContext(row)
    with django_assert_num_queries(0):
        job.progress(1, 10)  # 0 ms into the job: nothing yet
        clock.now += 0.4
        job.progress(2, 10)
    clock.now += 0.2  # 600 ms since the start
    with django_assert_num_queries(1):
        job.progress(3, 10)
    assert _figures(row) == (3, 10, 30)
    clock.now += 0.3
    with django_assert_num_queries(0):
        job.progress(4, 10)  # 300 ms since the last write
    clock.now += 0.3
    with django_assert_num_queries(1):
        job.progress(5, 10)
    assert _figures(row) == (5, 10, 50)


def test_a_job_shorter_than_the_interval_writes_no_progress_and_completes_with_its_figures(user, settings, clock):
    settings.JOBS_PROGRESS_INTERVAL_MS = 500
    row = _running(user)
    job = runner.JobContext(row)
    for done in range(1, 8):
        job.progress(done, 7)
    assert _figures(row) == (0, 0, 0)
    assert job.reported == (7, 7)
    assert background_job_record_completion(job_id=row.job_id, result={"ok": True}, progress=job.reported)
    assert _figures(row) == (7, 7, 100)


def test_interval_zero_writes_every_change_but_not_repeats(user, settings, django_assert_num_queries):
    settings.JOBS_PROGRESS_INTERVAL_MS = 0
    row = _running(user)
    job = runner.JobContext(row)
    with django_assert_num_queries(2):
        job.progress(1, 2)
        job.progress(1, 2)
        job.progress(2, 2)
    assert _figures(row) == (2, 2, 100)
