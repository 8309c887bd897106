"""Why a job failed: the row keeps the traceback and the task's log lines (bounded); users see one line."""

import pytest

from jobs.failures import bounded
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from jobs.tests.utils import work_burst

pytestmark = pytest.mark.django_db(transaction=True)


def test_failed_row_keeps_traceback_and_log_but_the_user_api_shows_one_line(redis_conn, user, auth_client):
    job = background_job_start(job_type="test_log_then_fail", user=user, params={"lines": 3})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED
    assert row.error_message == "ValueError: gave up after 3 steps"
    assert row.error_traceback.startswith("Traceback (most recent call last):")
    assert "log_then_fail_task" in row.error_traceback and "ValueError: gave up after 3 steps" in row.error_traceback
    assert [line.split(" ", 2)[1:] for line in row.log.splitlines()] == [
        ["INFO", f"step {index} {'x' * 10}"] for index in range(3)
    ]

    body = auth_client.get(f"/jobs/{job.job_id}").json()
    assert body["error_message"] == "ValueError: gave up after 3 steps"
    text = str(body)
    assert "Traceback" not in text and "step 0" not in text
    assert "error_traceback" not in body and "log" not in body


def test_a_completed_jobs_log_lines_are_kept_too(redis_conn, user):
    job = background_job_start(job_type="test_log", user=user)
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED and row.result_data == {"ok": True}
    assert [line.split(" ", 1)[1] for line in row.log.splitlines()] == [
        "INFO looked at 3 notes",
        "WARNING note 7 had no text",
    ]


def test_log_is_bounded_keeping_the_latest_lines(redis_conn, user, settings):
    settings.JOBS_LOG_MAX_CHARS = 1000
    job = background_job_start(job_type="test_log_then_fail", user=user, params={"lines": 200, "width": 50})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert len(row.log) <= 1000 + 40
    assert "earlier characters cut" in row.log and "step 199" in row.log and "step 0 " not in row.log


def test_a_retried_attempts_traceback_goes_into_the_audit_trail(redis_conn, user, tmp_path):
    job = background_job_start(job_type="test_flaky", user=user, params={"marker": str(tmp_path / "m")})
    work_burst()
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED and row.attempts == 2
    (event,) = row.events.filter(action="attempt_failed")
    assert event.reason.startswith("Traceback") and "RuntimeError: first attempt fails" in event.reason


def test_bounded_keeps_head_and_tail_of_a_traceback():
    text = "A" * 600 + "B" * 600
    cut = bounded(text, 500)
    assert cut.startswith("A" * 250) and cut.endswith("B" * 250) and "characters cut" in cut
    assert bounded("short", 500) == "short"
