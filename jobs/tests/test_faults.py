"""Fault tests with real processes: Redis restarted with its data lost, the database gone for seconds.

- Redis: a throwaway redis-server of the test's own, a real `manage.py rqworker`
  and `manage.py rqscheduler`; the server is killed and started again empty on
  the same port while the worker is busy and jobs wait in the queue.
- Database: the worker reaches PostgreSQL through a TCP proxy in this process
  that can drop every connection and refuse new ones for a few seconds
  (the machine's PostgreSQL itself is never stopped). PostgreSQL only.

`FAULT_TRIALS=20` runs the issue's 20 trials; the default keeps CI short.
"""

import shutil
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone
from rq.job import Job

from common import queues
from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.reconciler import background_jobs_reconcile
from jobs.rqkeys import rq_connection
from jobs.schedules import all_periodic_jobs
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401
from jobs.tests.faultutils import Child, TcpProxy, fault_trials
from jobs.tests.utils import wait_for
from notes.models import Note
from operations.selectors import redis_health
from reminders.models import Reminder, ReminderStatus
from reminders.selectors import SCHEDULED_JOBS_KEY, SWEEP_JOB_TYPE
from scribes.localredis import ThrowawayRedis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = {
    "RQ_JOB_MONITORING_INTERVAL": "1",
    "RQ_WORKER_TTL": "15",
    "RQ_SCHEDULER_INTERVAL": "1",
    "SEMANTIC_EMBEDDER": "hashing",  # no model to load: the worker starts in a second
}


@pytest.fixture
def children():
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


def _status(job) -> str:
    return BackgroundJob.objects.values_list("status", flat=True).get(pk=job.pk)


def _waiting_job(user, directory: Path, name: str):
    started, release = directory / f"{name}.started", directory / f"{name}.release"
    job = background_job_start(
        job_type="test_wait", user=user, params={"started": str(started), "release": str(release), "limit": 60}
    )
    return job, started, release


# --- Redis restarted with its data lost -------------------------------------------------


@pytest.fixture
def own_redis(settings):
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("needs redis-server on PATH to restart a server of its own")
    server = ThrowawayRedis(executable).start()
    settings.REDIS_URL = server.url
    settings.RQ_QUEUES = {name: {**config, "URL": server.url} for name, config in settings.RQ_QUEUES.items()}
    try:
        yield server
    finally:
        server.stop()


def _restart_empty(server: ThrowawayRedis, *, down_for: float = 1.0) -> None:
    """kill -9 the server and start a fresh one on the same port: every key is gone."""
    server.process.kill()
    server.process.wait(timeout=10)
    time.sleep(down_for)
    server.start()


def _periodic_entries() -> set[str]:
    return {entry.decode() for entry in rq_connection().zrange(SCHEDULED_JOBS_KEY, 0, -1)}


def _everything_back(worker: Child, scheduler: Child) -> bool:
    health = redis_health()
    return (
        worker.alive()
        and scheduler.alive()
        and health["redis"] == "ok"
        and health["workers"] == 1
        and health["scheduler"] == "ok"
        and _periodic_entries() == {job.schedule_id for job in all_periodic_jobs()}
    )


def test_redis_restarted_empty_mid_run(own_redis, user, fast_reconciler, manage_py, subprocess_env, tmp_path, children):
    trials = fault_trials(2)
    env = {**subprocess_env, **FAST, "REDIS_URL": own_redis.url}
    worker = Child([*manage_py, "rqworker", "--without-scheduler"], env, tmp_path / "worker.log")
    scheduler = Child([*manage_py, "rqscheduler"], env, tmp_path / "scheduler.log")
    children += [worker, scheduler]
    wait_for(lambda: _everything_back(worker, scheduler), timeout=60, interval=0.2, what="worker and scheduler up")

    completed = reconnected = 0
    all_jobs = []
    for trial in range(trials):
        # The worker is busy with one job, three more wait in Redis only.
        busy, started, release = _waiting_job(user, tmp_path, f"busy-{trial}")
        wait_for(lambda: started.exists() and _status(busy) == JobStatus.RUNNING, what="busy job running")  # noqa: B023
        waiting = [background_job_start(job_type="test_progress", user=user, params={"steps": 2}) for _ in range(3)]
        assert rq_connection().llen(f"rq:queue:{queues.SYSTEM}") == 3
        all_jobs += [busy, *waiting]

        _restart_empty(own_redis)
        assert not rq_connection().exists(f"rq:queue:{queues.SYSTEM}")  # the three waiting jobs are gone from Redis
        release.touch()
        wait_for(lambda: _status(busy) == JobStatus.COMPLETED, timeout=30, what="busy job to finish")  # noqa: B023

        # The worker and the scheduler find their way back without help.
        wait_for(
            lambda: _everything_back(worker, scheduler),
            timeout=30,
            interval=0.2,
            what=f"trial {trial}: worker and scheduler to re-register ({redis_health()})",
        )
        reconnected += 1

        def all_done():
            background_jobs_reconcile()
            return all(_status(job) == JobStatus.COMPLETED for job in waiting)  # noqa: B023

        wait_for(all_done, timeout=30, interval=0.5, what=f"trial {trial}: lost jobs re-enqueued and completed")
        completed += 1 + len(waiting)

    reenqueued = BackgroundJobEvent.objects.filter(job__in=all_jobs, action="reenqueue").count()
    lost = BackgroundJob.objects.filter(pk__in=[job.pk for job in all_jobs]).exclude(status=JobStatus.COMPLETED)
    print(
        f"redis restart (data lost): {trials} trials, {len(all_jobs)} jobs, {reenqueued} re-enqueued by the "
        f"reconciler, {completed} completed, {lost.count()} lost, worker and scheduler reconnected {reconnected} times"
    )
    assert (reenqueued, completed, lost.count(), reconnected) == (3 * trials, 4 * trials, 0, trials)
    assert worker.alive() and scheduler.alive()


# --- the database unavailable for a few seconds --------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="cuts the database connection with a TCP proxy; SQLite is a file (CI runs PostgreSQL too)",
)


@pytest.fixture
def db_proxy():
    settings_dict = connection.settings_dict
    proxy = TcpProxy(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    try:
        yield proxy
    finally:
        proxy.close()


def _via_proxy(env: dict, proxy: TcpProxy) -> dict:
    parts = urlsplit(env["DATABASE_URL"])
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    return {**env, "DATABASE_URL": urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))}


def _rq_status(job) -> str:
    rq_job_id = BackgroundJob.objects.values_list("rq_job_id", flat=True).get(pk=job.pk)
    try:
        status = Job.fetch(rq_job_id, connection=rq_connection()).get_status()
    except Exception:
        return "missing"
    return str(getattr(status, "value", status))


def _mail_count(directory: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in directory.glob("*.log"):
        for line in path.read_text().splitlines():
            if line.startswith("X-Scribes-Reminder:"):
                reminder_id = int(line.split(":", 1)[1])
                counts[reminder_id] = counts.get(reminder_id, 0) + 1
    return counts


def _outage(proxy: TcpProxy, start_or_release, *, rq_status: str = "failed", seconds: float = 3.0):
    """Cut the database, start (or release) a job into the outage, stay down until RQ saw it end plus `seconds`."""
    proxy.cut()
    try:
        job = start_or_release()
        wait_for(lambda: _rq_status(job) == rq_status, timeout=30, interval=0.2, what=f"RQ to record {rq_status}")
        time.sleep(seconds)
    finally:
        proxy.restore()
    return job


def _completed_from_rq(job) -> dict:
    def repaired():
        background_jobs_reconcile()
        return _status(job) == JobStatus.COMPLETED

    wait_for(repaired, timeout=30, interval=0.5, what="the reconciler to complete the row from RQ's result")
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.events.filter(source="reconciler", action="complete").exists()
    return row.result_data


def _failed_readably(job) -> str:
    def repaired():
        background_jobs_reconcile()
        return _status(job) == JobStatus.FAILED

    wait_for(repaired, timeout=30, interval=0.5, what="the row to end failed")
    message = BackgroundJob.objects.values_list("error_message", flat=True).get(pk=job.pk)
    assert "OperationalError" in message, message
    return message


@postgresql_only
def test_database_unavailable_during_a_job_and_a_sweep(
    redis_conn, user, fast_reconciler, db_proxy, manage_py, subprocess_env, tmp_path, children
):
    trials = fault_trials(2)
    mail_dir = tmp_path / "mail"
    env = {
        **_via_proxy(subprocess_env, db_proxy),
        **FAST,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    worker = Child([*manage_py, "rqworker", "--without-scheduler"], env, tmp_path / "worker.log")
    children.append(worker)
    note = Note.objects.create(user=user, title="Call the bank", content="about the mortgage")

    failed = recovered = served = sent = 0
    reasons = set()
    for trial in range(trials):
        # 1. A job that is running when the database goes: its body finishes in the
        # outage. RQ records the result, the worker cannot write it to the row, and
        # once the database is back the reconciler completes the row from RQ's copy.
        job, started, release = _waiting_job(user, tmp_path, f"job-{trial}")
        wait_for(lambda: started.exists() and _status(job) == JobStatus.RUNNING, timeout=60, what="job running")  # noqa: B023
        _outage(db_proxy, lambda: release.touch() or job, rq_status="finished")  # noqa: B023
        assert _completed_from_rq(job) == {"released": True}
        recovered += 1

        # 2. A sweep that starts while the database is gone, with reminders due.
        due = Reminder.objects.bulk_create(
            Reminder(user=user, note=note, scheduled_at=timezone.now() - timedelta(minutes=1)) for _ in range(3)
        )
        sweep = _outage(db_proxy, lambda: background_job_start(job_type=SWEEP_JOB_TYPE, params={"manual": True}))
        reasons.add(_failed_readably(sweep).split(":")[0])
        failed += 1
        assert not _mail_count(mail_dir).keys() & {r.pk for r in due}

        # 3. Once it is back, the same worker serves the next jobs on fresh connections.
        assert worker.alive(), worker.output()[-3000:]
        after = [
            background_job_start(job_type="test_progress", user=user, params={"steps": 2}),
            background_job_start(job_type=SWEEP_JOB_TYPE, params={"manual": True}),
        ]
        wait_for(
            lambda: all(_status(j) == JobStatus.COMPLETED for j in after),  # noqa: B023
            timeout=60,
            what=f"trial {trial}: the worker to serve jobs after the outage",
        )
        served += len(after)
        assert set(Reminder.objects.filter(pk__in=[r.pk for r in due]).values_list("status", flat=True)) == {
            ReminderStatus.SENT
        }
        sent += len(due)

    counts = _mail_count(mail_dir)
    twice = sum(1 for n in counts.values() if n > 1)
    print(
        f"database outage: {trials} trials, {recovered} jobs finished in the outage completed from RQ's result, "
        f"{failed} sweeps failed with a readable error ({', '.join(sorted(reasons))}), "
        f"{served} later jobs served by the same worker, {sent} reminders sent, {twice} sent twice, "
        f"{db_proxy.refused} connections refused while down"
    )
    assert (recovered, failed, served, sent, twice, len(counts)) == (
        trials,
        trials,
        2 * trials,
        3 * trials,
        0,
        3 * trials,
    )
    assert worker.alive()
