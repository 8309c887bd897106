"""Each transition is one conditional UPDATE ... RETURNING: it moves a row only from the statuses it names."""

from datetime import UTC, datetime, timedelta

import pytest

from common import queues
from jobs import transitions
from jobs.models import BackgroundJob, JobStatus

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _row(status=JobStatus.QUEUED, **fields) -> BackgroundJob:
    return BackgroundJob.objects.create(
        job_type="test_progress", queue=queues.SYSTEM, rq_job_id="rq-1", status=status, **fields
    )


def _reload(row) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=row.pk)


def test_claim_moves_a_queued_row_to_running_in_one_statement(django_assert_num_queries):
    row = _row()
    with django_assert_num_queries(1):
        claimed = transitions.claim(job_id=row.pk, now=NOW)
    assert (claimed.pk, claimed.status, claimed.attempts, claimed.started_at) == (
        row.pk,
        JobStatus.RUNNING,
        1,
        NOW,
    )
    assert claimed.params == {} and claimed.completed_at is None  # the whole row, converted as the ORM loads it
    assert _reload(row).status == JobStatus.RUNNING


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_claim_leaves_a_row_that_is_not_queued(status):
    row = _row(status)
    assert transitions.claim(job_id=row.pk, now=NOW) is None
    assert (_reload(row).status, _reload(row).attempts) == (status, 0)


def test_progress_never_moves_backwards_and_only_on_a_running_row():
    row = _row(JobStatus.RUNNING)
    assert transitions.progress(job_id=row.pk, processed=5, total=10, now=NOW).progress_percent == 50
    assert transitions.progress(job_id=row.pk, processed=3, total=10, now=NOW) is None
    assert (_reload(row).processed_items, _reload(row).progress_percent) == (5, 50)
    finished = _row(JobStatus.COMPLETED)
    assert transitions.progress(job_id=finished.pk, processed=1, total=1, now=NOW) is None


def test_complete_records_the_result_and_the_last_figures():
    row = _row(JobStatus.RUNNING, total_items=8)
    done = transitions.complete(job_id=row.pk, result={"n": [1, "x"]}, total=None, now=NOW)
    assert (done.status, done.result_data, done.processed_items, done.progress_percent, done.completed_at) == (
        JobStatus.COMPLETED,
        {"n": [1, "x"]},
        8,
        100,
        NOW,
    )
    other = _row(JobStatus.RUNNING)
    transitions.complete(job_id=other.pk, result=None, total=3, now=NOW)
    other = _reload(other)
    assert (other.result_data, other.processed_items, other.total_items) == (None, 3, 3)
    assert BackgroundJob.objects.filter(pk=other.pk, result_data__isnull=True).exists()


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_late_completion_never_overwrites_a_row_that_left_running(status):
    row = _row(status)
    assert transitions.complete(job_id=row.pk, result={"late": True}, total=None, now=NOW) is None
    assert (_reload(row).status, _reload(row).result_data) == (status, None)


def test_complete_from_another_attempt_changes_nothing():
    row = _row(JobStatus.RUNNING)
    assert (
        transitions.complete(
            job_id=row.pk, result={}, total=None, now=NOW, from_statuses=[JobStatus.RUNNING], rq_job_id="rq-old"
        )
        is None
    )
    assert _reload(row).status == JobStatus.RUNNING


def test_fail_final_and_retry():
    running, queued, done = _row(JobStatus.RUNNING), _row(), _row(JobStatus.COMPLETED)
    failed = transitions.fail(job_ids=[running.pk, queued.pk, done.pk], error="boom", final=True, now=NOW)
    assert {row.pk for row in failed} == {running.pk, queued.pk}
    assert (_reload(running).status, _reload(running).error_message, _reload(running).completed_at) == (
        JobStatus.FAILED,
        "boom",
        NOW,
    )
    assert _reload(done).status == JobStatus.COMPLETED
    again = _row(JobStatus.RUNNING)
    (requeued,) = transitions.fail(job_ids=[again.pk], error="Retrying after: x", final=False, now=NOW)
    assert (requeued.status, requeued.completed_at) == (JobStatus.QUEUED, None)


def test_a_late_failure_of_a_replaced_attempt_does_not_fail_the_new_one():
    row = _row(JobStatus.RUNNING)
    assert transitions.fail(job_ids=[row.pk], error="late", final=True, now=NOW, rq_job_id="rq-old") == []
    assert _reload(row).status == JobStatus.RUNNING


def test_cancel_moves_queued_and_running_rows_only():
    queued, running, completed = _row(), _row(JobStatus.RUNNING), _row(JobStatus.COMPLETED)
    cancelled = transitions.cancel(
        job_ids=[queued.pk, running.pk, completed.pk], reason="no", now=NOW + timedelta(seconds=1)
    )
    assert {row.pk for row in cancelled} == {queued.pk, running.pk}
    assert [_reload(row).status for row in (queued, running, completed)] == [
        JobStatus.CANCELLED,
        JobStatus.CANCELLED,
        JobStatus.COMPLETED,
    ]


def test_no_rows_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert transitions.fail(job_ids=[], error="x", final=True, now=NOW) == []
        assert transitions.cancel(job_ids=[], reason="x", now=NOW) == []


def test_every_transition_reaches_the_observers_with_the_rows_it_changed():
    from jobs.services import background_job_retry
    from jobs.tests import tasks  # noqa: F401  (registers test_progress, which a retry needs)

    seen = []
    transitions.observe("test", lambda transition, rows: seen.append((transition, [row.status for row in rows])))
    try:
        row = BackgroundJob(job_type="test_progress", queue=queues.SYSTEM, rq_job_id="rq-2")
        transitions.create_queued(rows=[row])
        transitions.claim(job_id=row.pk, now=NOW)
        transitions.progress(job_id=row.pk, processed=1, total=2, now=NOW)
        transitions.fail(job_ids=[row.pk], error="boom", final=True, now=NOW)
        assert background_job_retry(job_rows=BackgroundJob.objects.filter(pk=row.pk), reason="again") == 1
        transitions.claim(job_id=row.pk, now=NOW)
        transitions.complete(job_id=row.pk, result={"ok": True}, total=None, now=NOW)
        periodic = transitions.start_running(
            job_type="test_progress", rq_job_id="rq-3", queue=queues.SYSTEM, params={}, now=NOW
        )
        transitions.cancel(job_ids=[periodic.pk], reason="stop", now=NOW)
        transitions.cancel(job_ids=[periodic.pk], reason="again", now=NOW)  # changes nothing: not observed
    finally:
        transitions.unobserve("test")
    assert seen == [
        ("create", [JobStatus.QUEUED]),
        ("claim", [JobStatus.RUNNING]),
        ("progress", [JobStatus.RUNNING]),
        ("fail", [JobStatus.FAILED]),
        ("retry", [JobStatus.QUEUED]),
        ("claim", [JobStatus.RUNNING]),
        ("complete", [JobStatus.COMPLETED]),
        ("start_running", [JobStatus.RUNNING]),
        ("cancel", [JobStatus.CANCELLED]),
    ]
