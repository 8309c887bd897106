"""doctor, reset_queues and fail_stuck_jobs: the troubleshooting guide's recipes as commands."""

import json
from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from common import queues
from common.diagnostics import FAIL, OK, WARN, run_diagnostics
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401

pytestmark = pytest.mark.django_db


def _findings():
    return {finding.name: finding for finding in run_diagnostics()}


@pytest.fixture
def live_worker(redis_conn):
    from django_rq import get_worker

    worker = get_worker(*queues.ALL)
    worker.register_birth()
    yield worker
    worker.register_death()


@pytest.fixture
def live_scheduler(redis_conn):
    from django_rq import get_scheduler

    from jobs.schedules import SCHEDULER_NAME, register_periodic_jobs

    scheduler = get_scheduler(name=queues.SYSTEM)
    register_periodic_jobs(scheduler)
    scheduler.name = SCHEDULER_NAME  # as `manage.py rqscheduler` runs it
    scheduler.register_birth()
    yield scheduler
    scheduler.register_death()


def test_doctor_all_ok_with_worker_and_scheduler(live_worker, live_scheduler, capsys):
    call_command("doctor")
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for name in ("redis", "database", f"workers:{queues.SYSTEM}", "scheduler", "periodic:jobs_reconcile"):
        assert f"OK   {name}:" in out


def test_doctor_without_worker_or_scheduler_fails_with_fixes(redis_conn, capsys):
    # Jobs wait on the system queue and nobody serves it: FAIL; the idle model queue: WARN.
    django_rq.get_queue(queues.SYSTEM).enqueue_call(func="jobs.tests.tasks.progress_task")
    with pytest.raises(CommandError, match="check\\(s\\) failed"):
        call_command("doctor")
    out = capsys.readouterr().out
    assert f"FAIL workers:{queues.SYSTEM}: No live worker listens on queue '{queues.SYSTEM}' and 1 job(s) wait" in out
    assert "fix: Start one: `python manage.py rqworker --purpose system`" in out
    assert f"WARN workers:{queues.SEMANTIC}: No live worker listens on queue '{queues.SEMANTIC}' (no job waits" in out
    assert "fix: Start one: `python manage.py rqworker --purpose semantic`" in out
    assert "FAIL scheduler:" in out and "python manage.py rqscheduler" in out


def test_doctor_exit_code_and_json(redis_conn, subprocess_env, manage_py):
    import subprocess

    result = subprocess.run(
        [*manage_py, "doctor", "--json"], env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    findings = json.loads(result.stdout)
    levels = {finding["name"]: finding["level"] for finding in findings}
    assert levels["redis"] == OK and levels["database"] == OK
    assert levels[f"workers:{queues.SYSTEM}"] == WARN  # nothing waits on it
    assert levels["scheduler"] == FAIL
    assert all(finding["fix"] for finding in findings if finding["level"] == FAIL)


def test_doctor_detects_wrongtype_corruption_without_flushing(live_worker, live_scheduler, redis_conn):
    # What raw list operations against RQ's keys did in the old service.
    redis_conn.set(f"rq:queue:{queues.SYSTEM}", "not a list")
    redis_conn.set("unrelated:key", "kept")
    finding = _findings()["redis-keys"]
    assert finding.level == FAIL
    assert f"rq:queue:{queues.SYSTEM} is a string (RQ expects a list)" in finding.message
    assert "reset_queues --yes" in finding.fix
    assert redis_conn.get("unrelated:key") == b"kept"


def test_doctor_reports_foreign_queue_and_duplicate_periodic_entry(redis_conn, live_scheduler):
    from jobs.pausing import PausableQueue
    from jobs.tasks import reconcile_jobs
    from jobs.worker import ScribesWorker

    names = [*queues.ALL, "arq-queue"]
    worker = ScribesWorker([PausableQueue(name, connection=redis_conn) for name in names], connection=redis_conn)
    worker.register_birth()
    try:
        # A second, id-less registration of the same periodic job (what rq-scheduler does without ids).
        live_scheduler.cron("* * * * *", func=reconcile_jobs, meta={"job_type": "jobs_reconcile"})
        findings = _findings()
    finally:
        worker.register_death()
    assert findings["workers:foreign-queues"].level == WARN
    assert "arq-queue" in findings["workers:foreign-queues"].message
    assert findings["periodic:jobs_reconcile"].level == WARN
    assert "registered 2 times" in findings["periodic:jobs_reconcile"].message


def test_doctor_reports_failures_averages_and_lost_jobs(redis_conn, user, settings):
    settings.JOBS_RECONCILE_GRACE = 0
    now = timezone.now()
    BackgroundJob.objects.create(
        job_type="test_fail", user=user, queue=queues.SYSTEM, status=JobStatus.FAILED,
        error_message="ValueError: disk on fire", completed_at=now,
    )  # fmt: skip
    BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.COMPLETED,
        started_at=now - timedelta(seconds=4), completed_at=now,
    )  # fmt: skip
    lost = BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING,
        started_at=now, rq_job_id="gone",
    )  # fmt: skip
    findings = _findings()
    assert findings["jobs:by-status"].data["failed"] == 1
    assert findings["jobs:failures-24h"].level == WARN
    assert "disk on fire" in findings["jobs:failures-24h"].message
    assert findings["jobs:average-seconds"].data == {"test_progress": 4.0}
    assert findings["jobs:lost"].level == WARN and "reconcile_jobs" in findings["jobs:lost"].fix
    lost.refresh_from_db()
    assert lost.status == JobStatus.RUNNING  # the doctor only looks


def test_doctor_reports_unapplied_migrations(monkeypatch, redis_conn):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets: [(type("M", (), {"app_label": "jobs", "name": "0099_x"})(), False)],
    )
    finding = _findings()["database"]
    assert finding.level == FAIL and "jobs.0099_x" in finding.message and "migrate" in finding.fix


def test_a_broken_app_diagnostic_is_a_fail_not_a_crash(redis_conn):
    from common.diagnostics import _DIAGNOSTICS, diagnostic

    @diagnostic("test-broken")
    def broken():
        raise RuntimeError("probe exploded")

    try:
        finding = _findings()["test-broken"]
    finally:
        _DIAGNOSTICS.pop("test-broken")
    assert finding.level == FAIL and "probe exploded" in finding.message


def test_reset_queues_without_yes_changes_nothing(redis_conn, user, django_capture_on_commit_callbacks, capsys):
    with django_capture_on_commit_callbacks(execute=True):
        job = background_job_start(job_type="test_progress", user=user)
    call_command("reset_queues")
    out = capsys.readouterr().out
    assert "Nothing changed" in out and f"rq:queue:{queues.SYSTEM}" in out
    assert redis_conn.llen(f"rq:queue:{queues.SYSTEM}") == 1
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_reset_queues_yes_clears_only_project_keys_and_fails_rows(
    redis_conn, user, live_worker, live_scheduler, django_capture_on_commit_callbacks, capsys
):
    from rq import Queue

    with django_capture_on_commit_callbacks(execute=True):
        job = background_job_start(job_type="test_progress", user=user)
    redis_conn.set(f"rq:failed:{queues.SYSTEM}", "corrupt")  # WRONGTYPE-corrupted registry
    other = Queue("other-project", connection=redis_conn)
    foreign = other.enqueue_call(func="jobs.tests.tasks.progress_task")
    redis_conn.set("unrelated:key", "kept")

    call_command("reset_queues", "--yes")
    assert "marked 1 queued/running job(s) failed" in capsys.readouterr().out

    assert not redis_conn.exists(f"rq:queue:{queues.SYSTEM}", f"rq:failed:{queues.SYSTEM}", f"rq:job:{job.job_id}")
    assert redis_conn.exists("unrelated:key", "rq:queue:other-project", f"rq:job:{foreign.id}") == 3
    assert redis_conn.exists(live_worker.key)  # live worker registration kept
    assert live_scheduler.get_jobs()  # periodic entries kept
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED and "reset_queues" in row.error_message
    assert row.events.get().action == "reset_queues"
    assert _findings()["redis-keys"].level == OK


def test_fail_stuck_jobs_older_than_and_dry_run(user, capsys):
    now = timezone.now()
    old = BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING,
        started_at=now - timedelta(minutes=90),
    )  # fmt: skip
    recent = BackgroundJob.objects.create(
        job_type="test_progress", user=user, queue=queues.SYSTEM, status=JobStatus.RUNNING,
        started_at=now - timedelta(minutes=10),
    )  # fmt: skip

    call_command("fail_stuck_jobs", "--older-than", "60", "--dry-run")
    assert "1 job(s) would be marked failed" in capsys.readouterr().out
    assert BackgroundJob.objects.get(pk=old.pk).status == JobStatus.RUNNING

    call_command("fail_stuck_jobs", "--older-than", "60")
    assert "1 job(s) marked failed." in capsys.readouterr().out
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == JobStatus.FAILED and "Worker stopped unexpectedly" in old.error_message
    assert recent.status == JobStatus.RUNNING
    assert old.events.get().source == "command"


def test_rqscheduler_silences_the_crontab_future_warning():
    import warnings

    from rq_scheduler.utils import get_next_scheduled_time

    from jobs.management.commands.rqscheduler import silence_crontab_warning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_next_scheduled_time("* * * * *")
        assert any("of crontab" in str(warning.message) for warning in caught)  # rq-scheduler still warns
        caught.clear()
        silence_crontab_warning()
        get_next_scheduled_time("* * * * *")
    assert not [warning for warning in caught if issubclass(warning.category, FutureWarning)]
