"""Pausing one queue: workers skip it, its jobs wait in order, resume lets them run; audited, reported."""

import pytest
from django.core.management import CommandError, call_command

from common import queues
from common.diagnostics import OK, WARN, run_diagnostics
from jobs.models import BackgroundJob, JobStatus
from jobs.pausing import PAUSED_KEY, paused_queues
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401  (registers the test tasks)
from operations.models import OperatorAction
from operations.pausing import queue_pause, queue_resume

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(redis_conn):
    from jobs.worker import ScribesSimpleWorker

    return ScribesSimpleWorker([queues.SYSTEM], connection=redis_conn)


def _finding(name):
    return next(finding for finding in run_diagnostics() if finding.name == name)


def test_paused_queue_keeps_its_jobs_until_resumed(redis_conn, admin_user):
    queue_pause(name=queues.SYSTEM, by=admin_user, reason="database maintenance")
    job = background_job_start(job_type="test_progress", params={"steps": 1})
    _worker(redis_conn).work(burst=True)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert redis_conn.llen(f"rq:queue:{queues.SYSTEM}") == 1

    assert queue_resume(name=queues.SYSTEM, by=admin_user) is True
    _worker(redis_conn).work(burst=True)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED


def test_a_job_popped_after_a_blocking_wait_on_a_paused_queue_is_put_back(redis_conn, monkeypatch):
    from jobs import pausing

    worker = _worker(redis_conn)
    worker.register_birth()
    job = background_job_start(job_type="test_progress", params={"steps": 1})
    # As if the queue were paused while the worker was blocked in its dequeue.
    monkeypatch.setattr(pausing, "BLOCKED_DEQUEUE_SECONDS", -1.0)
    calls = iter([set(), {queues.SYSTEM}, {queues.SYSTEM}])
    monkeypatch.setattr(pausing, "paused_queue_names", lambda connection: next(calls))
    assert worker.dequeue_job_and_maintain_ttl(None) is None
    assert redis_conn.lrange(f"rq:queue:{queues.SYSTEM}", 0, -1) == [str(job.job_id).encode()]
    assert redis_conn.llen(f"rq:queue:{queues.SYSTEM}:intermediate") == 0


def test_pause_and_resume_are_audited_reported_and_idempotent(redis_conn, admin_user, api_client):
    assert _finding("queues:paused").level == OK
    assert queue_pause(name=queues.SYSTEM, by=admin_user, reason="incident 42") is True
    assert queue_pause(name=queues.SYSTEM, by=admin_user) is False
    assert paused_queues()[queues.SYSTEM]["reason"] == "incident 42"

    finding = _finding("queues:paused")
    assert finding.level == WARN and queues.SYSTEM in finding.message and "incident 42" in finding.message
    body = api_client.get("/health").json()
    assert body["paused_queues"] == [queues.SYSTEM]
    assert any("paused" in problem for problem in body["problems"])

    assert queue_resume(name=queues.SYSTEM, by=admin_user) is True
    assert queue_resume(name=queues.SYSTEM, by=admin_user) is False
    assert not redis_conn.exists(PAUSED_KEY)
    actions = list(OperatorAction.objects.order_by("at", "id").values_list("action", "target", "actor__username"))
    assert actions == [
        ("queue_pause", f"queue:{queues.SYSTEM}", admin_user.username),
        ("queue_resume", f"queue:{queues.SYSTEM}", admin_user.username),
    ]


def test_queues_command_pauses_resumes_and_refuses_unknown_names(redis_conn, capsys):
    call_command("queues", "pause", queues.SYSTEM, "--reason", "deploy")
    call_command("queues")
    assert f"{queues.SYSTEM}: PAUSED" in capsys.readouterr().out
    call_command("queues", "resume", queues.SYSTEM)
    assert paused_queues() == {}
    assert OperatorAction.objects.filter(source="command").count() == 2
    with pytest.raises(CommandError, match="Unknown queue"):
        call_command("queues", "pause", "nope")
    with pytest.raises(CommandError, match="Name the queue"):
        call_command("queues", "resume")
    assert BackgroundJob.objects.count() == 0


def noop():
    return "ran"


def test_a_worker_serves_its_other_queues_while_one_is_paused_and_keeps_their_order(redis_conn):
    from rq import Queue

    from jobs.pausing import PAUSED_KEY
    from jobs.worker import ScribesSimpleWorker

    # A queue outside the project's: pausing must not depend on the names.
    other = Queue("console-test-other", connection=redis_conn)
    paused_job = Queue(queues.SYSTEM, connection=redis_conn).enqueue(noop)
    open_job = other.enqueue(noop)
    redis_conn.hset(PAUSED_KEY, queues.SYSTEM, "{}")
    worker = ScribesSimpleWorker([queues.SYSTEM, other.name], connection=redis_conn)
    worker.work(burst=True)
    assert open_job.get_status(refresh=True) == "finished"
    assert paused_job.get_status(refresh=True) == "queued"
    # The worker's queue order (a priority under the default strategy) survives the pause:
    # once resumed, the first queue's job runs before the second's.
    redis_conn.hdel(PAUSED_KEY, queues.SYSTEM)
    second = other.enqueue(noop)
    worker.work(burst=True)
    paused_job.refresh()
    second.refresh()
    assert paused_job.get_status() == second.get_status() == "finished"
    assert paused_job.ended_at <= second.started_at
