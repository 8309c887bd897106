"""The reconciler's decisions, on a real Redis with RQ state arranged by hand."""

from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone
from rq.job import Job
from rq.results import Result
from rq.utils import utcformat

from common import queues
from jobs import services
from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import WORKER_STOPPED, background_jobs_reconcile
from jobs.schedules import SCHEDULE_ID_PREFIX
from jobs.tests import tasks  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_deadlines(settings):
    settings.RQ_JOB_MONITORING_INTERVAL = 1
    settings.JOBS_HEARTBEAT_GRACE = 3
    settings.JOBS_RECONCILE_GRACE = 0
    settings.JOBS_TIMEOUT_GRACE = 60


@pytest.fixture
def reconcile(django_capture_on_commit_callbacks):
    """One reconciler pass with its after-commit work (enqueues, RQ stops) run."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return background_jobs_reconcile(**kwargs)

    return run


def _row(user, *, status=JobStatus.RUNNING, job_type="test_progress", attempts=1, **extra):
    row = BackgroundJob.objects.create(
        job_type=job_type,
        user=user,
        queue=queues.SYSTEM,
        status=status,
        attempts=attempts,
        started_at=timezone.now() if status == JobStatus.RUNNING else None,
        **extra,
    )
    if not row.rq_job_id:
        row.rq_job_id = str(row.job_id)
        row.save(update_fields=["rq_job_id"])
    return row


def _rq_job(connection, row, *, status="started", worker="w1", timeout=None):
    queue = django_rq.get_queue(queues.SYSTEM)
    job = queue.enqueue_call(
        func="jobs.tests.tasks.progress_task",
        kwargs={"background_job_id": str(row.job_id)},
        job_id=row.rq_job_id,
        meta={"background_job_id": str(row.job_id)},
        timeout=timeout,
    )
    if status != "queued":
        connection.lrem(f"rq:queue:{queues.SYSTEM}", 0, job.id)
        connection.hset(job.key, mapping={"status": status, "worker_name": worker or ""})
    return job


def _heartbeat(connection, name="w1", *, ago=0.0):
    connection.hset(f"rq:worker:{name}", "last_heartbeat", utcformat(timezone.now() - timedelta(seconds=ago)))


def test_running_job_on_a_heartbeating_worker_is_left_alone(reconcile, redis_conn, user):
    row = _row(user)
    _rq_job(redis_conn, row)
    _heartbeat(redis_conn, ago=0.5)
    assert reconcile() == []
    row.refresh_from_db()
    assert row.status == JobStatus.RUNNING and not row.events.exists()


@pytest.mark.parametrize("heartbeat_ago", [None, 30.0], ids=["worker-key-gone", "heartbeat-stale"])
def test_running_job_whose_worker_died_is_failed_with_reason(reconcile, redis_conn, user, heartbeat_ago):
    row = _row(user)
    _rq_job(redis_conn, row)
    if heartbeat_ago is not None:
        _heartbeat(redis_conn, ago=heartbeat_ago)
    [repair] = reconcile()
    assert repair.action == "failed"
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.error_message.startswith(WORKER_STOPPED) and "w1" in row.error_message
    event = row.events.get()
    assert (event.source, event.action, event.actor) == ("reconciler", "reconcile", None)


def test_lost_attempt_of_a_job_type_with_retries_is_retried(reconcile, redis_conn, user, tmp_path):
    row = _row(user, job_type="test_flaky", params={"marker": str(tmp_path / "m")})
    _rq_job(redis_conn, row)  # no heartbeat: the worker is gone
    [repair] = reconcile()
    assert repair.action == "retried"
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert row.rq_job_id != str(row.job_id)
    assert Job.fetch(row.rq_job_id, connection=redis_conn).get_status() == "queued"
    assert row.events.get().action == "retry"


def test_late_failure_of_a_replaced_attempt_does_not_touch_the_new_one(reconcile, redis_conn, user, tmp_path):
    row = _row(user, job_type="test_flaky", params={"marker": str(tmp_path / "m")})
    old = _rq_job(redis_conn, row)
    reconcile()  # retried under a new RQ id
    assert not services.background_job_record_rq_failure(rq_job=old, error="late", final=True)
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED


def test_running_row_whose_rq_job_vanished_is_failed(reconcile, redis_conn, user):
    row = _row(user)
    [repair] = reconcile()
    assert "missing from Redis" in repair.reason
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED


def test_running_row_missing_right_after_a_redis_restart_waits_one_deadline(reconcile, redis_conn, user, monkeypatch):
    # A busy worker restores its job's record within one heartbeat; don't fail
    # the row before it had the chance.
    row = _row(user)
    monkeypatch.setattr("jobs.reconciler.redis_uptime", lambda connection: 1)
    assert reconcile() == []
    row.refresh_from_db()
    assert row.status == JobStatus.RUNNING
    monkeypatch.setattr("jobs.reconciler.redis_uptime", lambda connection: 3600)
    [repair] = reconcile()
    assert "missing from Redis" in repair.reason


def test_queued_row_lost_from_redis_is_reenqueued_once_then_failed(reconcile, redis_conn, user):
    row = _row(user, status=JobStatus.QUEUED)
    [first] = reconcile()
    assert first.action == "reenqueued"
    assert Job.fetch(row.rq_job_id, connection=redis_conn).get_status() == "queued"
    assert BackgroundJob.objects.get(pk=row.pk).status == JobStatus.QUEUED

    redis_conn.flushdb()
    [second] = reconcile()
    assert second.action == "failed"
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert "Lost again after being re-enqueued once" in row.error_message
    assert list(row.events.values_list("action", flat=True)) == ["reenqueue", "reconcile"]


def test_queued_row_within_grace_is_not_reenqueued(reconcile, redis_conn, user, settings):
    settings.JOBS_RECONCILE_GRACE = 300  # the enqueue may simply not have happened yet
    _row(user, status=JobStatus.QUEUED)
    assert reconcile() == []


def test_running_row_rq_already_failed_gets_rqs_reason(reconcile, redis_conn, user):
    # What is left when RQ's cleanup ran on_failure in a thread and it raised
    # "signal only works in main thread": RQ says failed, the row says running.
    row = _row(user)
    _rq_job(redis_conn, row, status="failed")
    [repair] = reconcile()
    assert repair.action == "failed"
    assert "RQ recorded the job as failed" in BackgroundJob.objects.get(pk=row.pk).error_message


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.QUEUED])
def test_row_whose_finish_never_landed_is_completed_with_rqs_result(reconcile, redis_conn, user, status):
    # The worker's asynchronous commit lost to a database crash (the claim or the
    # completion), or its main process killed before it wrote: RQ kept the result.
    row = _row(user, status=status, total_items=4, processed_items=1)
    job = _rq_job(redis_conn, row, status="started")
    Result.create(job, Result.Type.SUCCESSFUL, ttl=600, return_value={"steps": 4})
    redis_conn.hset(job.key, "status", "finished")
    [repair] = reconcile()
    assert (repair.action, repair.status_before) == ("completed", status)
    row.refresh_from_db()
    assert (row.status, row.result_data, row.processed_items, row.progress_percent) == (
        JobStatus.COMPLETED,
        {"steps": 4},
        4,
        100,
    )
    assert row.events.get().source == "reconciler"


def test_finished_rq_job_that_declined_the_row_does_not_complete_it(reconcile, redis_conn, user):
    row = _row(user)
    job = _rq_job(redis_conn, row, status="finished")
    Result.create(job, Result.Type.SUCCESSFUL, ttl=600, return_value={"skipped": "row is cancelled"})
    [repair] = reconcile()
    assert repair.action == "failed"
    assert "outcome never reached the row" in BackgroundJob.objects.get(pk=row.pk).error_message


def test_running_row_whose_rq_job_was_put_back_on_the_queue_becomes_queued(reconcile, redis_conn, user):
    row = _row(user)
    _rq_job(redis_conn, row, status="queued")
    [repair] = reconcile()
    assert repair.action == "requeued"
    assert BackgroundJob.objects.get(pk=row.pk).status == JobStatus.QUEUED


def test_running_past_timeout_plus_grace_is_failed_even_with_live_worker(reconcile, redis_conn, user):
    row = _row(user)
    BackgroundJob.objects.filter(pk=row.pk).update(started_at=timezone.now() - timedelta(seconds=200))
    _rq_job(redis_conn, row, timeout=100)
    _heartbeat(redis_conn)
    [repair] = reconcile()
    assert "timeout plus grace (160 s)" in repair.reason


def test_older_runs_of_a_periodic_job_are_failed_when_a_newer_one_runs(reconcile, redis_conn, user):
    old = _row(None, rq_job_id=f"{SCHEDULE_ID_PREFIX}test_progress")
    new = _row(None, rq_job_id=f"{SCHEDULE_ID_PREFIX}test_progress")
    _rq_job(redis_conn, new)
    _heartbeat(redis_conn)
    [repair] = reconcile()
    assert repair.job_id == str(old.job_id)
    assert BackgroundJob.objects.get(pk=new.pk).status == JobStatus.RUNNING


def test_dry_run_changes_nothing(reconcile, redis_conn, user):
    row = _row(user)
    [repair] = reconcile(dry_run=True)
    assert not repair.applied
    row.refresh_from_db()
    assert row.status == JobStatus.RUNNING and not row.events.exists()


def test_reconcile_jobs_command_prints_what_it_changed(redis_conn, user, capsys):
    row = _row(user)
    call_command("reconcile_jobs")
    out = capsys.readouterr().out
    assert str(row.job_id) in out and "failed" in out
    assert "Reconciler changed 1 job(s)." in out


def test_reconciler_task_is_registered_as_a_periodic_job_once(redis_conn, settings):
    from django_rq import get_scheduler

    from jobs.schedules import register_periodic_jobs

    settings.JOBS_RECONCILE_CRON = "*/2 * * * *"
    scheduler = get_scheduler(name=queues.SYSTEM)
    for _ in range(3):
        register_periodic_jobs(scheduler)
    entries = [job for job in scheduler.get_jobs() if job.meta.get("job_type") == "jobs_reconcile"]
    assert len(entries) == 1
    assert entries[0].id == f"{SCHEDULE_ID_PREFIX}jobs_reconcile"
    assert entries[0].meta.get("cron_string") == "*/2 * * * *"


def test_default_settings_report_a_killed_worker_within_two_minutes():
    # Worst case: the heartbeat goes stale, the next cron minute passes, the
    # scheduler polls, then a worker runs the pass. Keep the defaults under 2 min.
    from scribes import settings as defaults

    assert defaults.JOBS_RECONCILE_CRON == "* * * * *"
    worst = defaults.RQ_JOB_MONITORING_INTERVAL + defaults.JOBS_HEARTBEAT_GRACE + 60 + defaults.RQ_SCHEDULER_INTERVAL
    assert worst < 120


def test_reconciler_pass_prunes_old_completed_periodic_rows_only(redis_conn, user, settings):
    from jobs.runner import JobContext
    from jobs.tasks import reconcile_jobs

    settings.JOBS_PERIODIC_RETENTION_DAYS = 14
    long_ago = timezone.now() - timedelta(days=15)
    recent = timezone.now() - timedelta(days=13)

    def periodic(status, completed_at, **extra):
        return BackgroundJob.objects.create(
            job_type="jobs_reconcile",
            queue=queues.SYSTEM,
            rq_job_id=f"{SCHEDULE_ID_PREFIX}jobs_reconcile",
            status=status,
            completed_at=completed_at,
            **extra,
        )

    old = [periodic(JobStatus.COMPLETED, long_ago) for _ in range(3)]
    kept = [
        periodic(JobStatus.COMPLETED, recent),
        periodic(JobStatus.FAILED, long_ago),  # failures stay for operators
        _row(user, status=JobStatus.COMPLETED, completed_at=long_ago),  # a user's job, never pruned
    ]
    this_pass = periodic(JobStatus.RUNNING, None)
    result = reconcile_jobs.spec.body(JobContext(this_pass))
    assert result["pruned_periodic_rows"] == 3
    assert not BackgroundJob.objects.filter(pk__in=[row.pk for row in old]).exists()
    assert BackgroundJob.objects.filter(pk__in=[row.pk for row in [*kept, this_pass]]).count() == 4
