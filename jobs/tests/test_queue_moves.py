"""Jobs stranded on a retired queue (the former single `scribes` queue) move to their task's queue."""

import pytest
from rq import Queue
from rq.job import Job

from common import queues
from common.diagnostics import OK, WARN, run_diagnostics
from jobs import services
from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import background_jobs_reconcile
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)

pytestmark = pytest.mark.django_db(transaction=True)

#: The project's former single queue: no worker listens on it any more.
RETIRED = "scribes"


def _stranded(redis_conn, *, job_type="test_progress", params=None):
    """A queued row and its RQ job on the retired queue, as a deploy that split the queues left them."""
    row = BackgroundJob.objects.create(
        job_type=job_type, queue=RETIRED, status=JobStatus.QUEUED, params=params or {"steps": 2}
    )
    row.rq_job_id = str(row.job_id)
    row.save(update_fields=["rq_job_id"])
    Queue(RETIRED, connection=redis_conn).enqueue_call(
        func="jobs.tests.tasks.progress_task",
        kwargs={"background_job_id": str(row.job_id), **row.params},
        job_id=row.rq_job_id,
        meta={"background_job_id": str(row.job_id), "job_type": job_type},
    )
    return row


def _ids(redis_conn, name):
    return [raw.decode() for raw in redis_conn.lrange(f"rq:queue:{name}", 0, -1)]


def _finding(name):
    return next(finding for finding in run_diagnostics() if finding.name == name)


def _work(redis_conn, *names):
    from jobs.worker import ScribesSimpleWorker

    ScribesSimpleWorker(list(names), connection=redis_conn).work(burst=True)


def test_job_on_a_retired_queue_moves_to_its_tasks_queue_and_runs_there(redis_conn):
    row = _stranded(redis_conn)
    _work(redis_conn, *queues.ALL)  # the project's workers do not see it
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED

    [repair] = background_jobs_reconcile()
    assert (repair.action, repair.applied) == ("moved", True)
    assert f"{RETIRED!r} to {queues.SYSTEM!r}" in repair.reason
    assert _ids(redis_conn, RETIRED) == []
    assert _ids(redis_conn, queues.SYSTEM) == [row.rq_job_id]  # the same RQ id: it runs once
    assert Job.fetch(row.rq_job_id, connection=redis_conn).origin == queues.SYSTEM
    row.refresh_from_db()
    assert row.queue == queues.SYSTEM
    event = row.events.get()
    assert (event.action, event.source, event.status_before, event.status_after) == (
        "move_queue",
        "reconciler",
        JobStatus.QUEUED,
        JobStatus.QUEUED,
    )
    assert background_jobs_reconcile() == []  # idempotent

    _work(redis_conn, queues.SYSTEM)
    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert row.result_data == {"steps": 2}


def test_dry_run_changes_nothing(redis_conn):
    row = _stranded(redis_conn)
    [repair] = background_jobs_reconcile(dry_run=True)
    assert (repair.action, repair.applied) == ("moved", False)
    assert _ids(redis_conn, RETIRED) == [row.rq_job_id]
    assert _ids(redis_conn, queues.SYSTEM) == []
    row.refresh_from_db()
    assert row.queue == RETIRED and not row.events.exists()


def test_a_job_a_worker_dequeued_meanwhile_is_not_touched(redis_conn):
    row = _stranded(redis_conn)
    rq_job = Job.fetch(row.rq_job_id, connection=redis_conn)
    # An old worker still listening on the retired queue pops the id between the reconciler's read and its move.
    assert redis_conn.lpop(f"rq:queue:{RETIRED}").decode() == row.rq_job_id
    moved = services.background_job_move_queue(job_row=row, rq_job=rq_job, queue_name=queues.SYSTEM, reason="test")
    assert moved is False
    assert _ids(redis_conn, queues.SYSTEM) == []
    assert Job.fetch(row.rq_job_id, connection=redis_conn).origin == RETIRED
    row.refresh_from_db()
    assert row.queue == RETIRED and not row.events.exists()


def test_a_worker_dequeuing_during_the_move_aborts_it(redis_conn, monkeypatch):
    from jobs.services import repairs

    row = _stranded(redis_conn)
    rq_job = Job.fetch(row.rq_job_id, connection=redis_conn)

    class PoppedMeanwhile(Job):
        @classmethod
        def fetch(cls, *args, **kwargs):
            # A worker pops the id after the reconciler saw it on the list, before the MULTI.
            redis_conn.lpop(f"rq:queue:{RETIRED}")
            return Job.fetch(*args, **kwargs)

    monkeypatch.setattr(repairs, "Job", PoppedMeanwhile)
    moved = services.background_job_move_queue(job_row=row, rq_job=rq_job, queue_name=queues.SYSTEM, reason="test")
    assert moved is False
    assert _ids(redis_conn, RETIRED) == [] and _ids(redis_conn, queues.SYSTEM) == []
    row.refresh_from_db()
    assert row.queue == RETIRED and not row.events.exists()


def test_a_started_job_on_the_retired_queue_is_left_to_its_worker(redis_conn):
    row = _stranded(redis_conn)
    redis_conn.lrem(f"rq:queue:{RETIRED}", 0, row.rq_job_id)
    redis_conn.hset(f"rq:job:{row.rq_job_id}", mapping={"status": "started", "worker_name": "old-worker"})
    assert [repair.action for repair in background_jobs_reconcile()] != ["moved"]
    assert _ids(redis_conn, queues.SYSTEM) == []
    assert Job.fetch(row.rq_job_id, connection=redis_conn).origin == RETIRED


def test_a_move_cut_short_after_redis_is_finished_on_the_row(redis_conn):
    row = _stranded(redis_conn)
    job = Job.fetch(row.rq_job_id, connection=redis_conn)
    Queue(RETIRED, connection=redis_conn).remove(job.id)
    Queue(queues.SYSTEM, connection=redis_conn).enqueue_job(job)  # Redis moved, the row not yet
    [repair] = background_jobs_reconcile()
    assert repair.action == "moved"
    row.refresh_from_db()
    assert row.queue == queues.SYSTEM
    assert _ids(redis_conn, queues.SYSTEM) == [row.rq_job_id]


def test_doctor_reports_jobs_on_a_queue_that_is_not_a_project_queue(redis_conn):
    assert _finding("queues:retired").level == OK
    _stranded(redis_conn)
    # A plain RQ job on the retired queue has no row: the reconciler leaves it, the doctor keeps naming it.
    Queue(RETIRED, connection=redis_conn).enqueue_call(func="jobs.tests.tasks.progress_task", job_id="untracked")

    finding = _finding("queues:retired")
    assert finding.level == WARN
    assert f"{RETIRED!r} (2 job(s))" in finding.message
    assert "reconciler moves tracked jobs" in finding.fix
    assert finding.data == {"queues": {RETIRED: 2}}

    background_jobs_reconcile()
    assert _ids(redis_conn, RETIRED) == ["untracked"]
    assert _finding("queues:retired").data == {"queues": {RETIRED: 1}}


def test_periodic_entry_registered_on_a_retired_queue_is_replaced(redis_conn):
    from django_rq import get_scheduler

    from jobs.schedules import all_periodic_jobs, register_periodic_jobs
    from jobs.tasks import RECONCILE_JOB_TYPE, reconcile_jobs

    scheduler = get_scheduler(name=queues.SYSTEM)
    periodic = next(job for job in all_periodic_jobs() if job.job_type == RECONCILE_JOB_TYPE)
    # What the scheduler registered before the rename, with one run waiting on the retired queue.
    scheduler.cron("* * * * *", func=reconcile_jobs, id=periodic.schedule_id, queue_name=RETIRED, timeout=300)
    redis_conn.rpush(f"rq:queue:{RETIRED}", periodic.schedule_id)

    register_periodic_jobs(scheduler)
    register_periodic_jobs(scheduler)  # idempotent
    entries = [entry for entry in scheduler.get_jobs() if entry.id == periodic.schedule_id]
    assert [entry.origin for entry in entries] == [queues.SYSTEM]
    assert _ids(redis_conn, RETIRED) == []
