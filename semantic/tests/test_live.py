"""A regeneration watched live and stopped: real uvicorn, real `manage.py rqworker`, real Redis."""

import time

import pytest
from rq.job import Job

from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from jobs.tests.faultutils import Child
from jobs.tests.utils import wait_for
from live.tests.liveutils import AsgiServer, SseClient
from notes.models import Note
from scribes.services import user_token_issue
from semantic.models import NoteEmbedding
from semantic.services import note_embeddings_regenerate_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROCESS_ENV = {
    "SEMANTIC_EMBEDDER": "hashing",
    "SEMANTIC_AUTO_EMBED": "0",
    "JOBS_PROGRESS_INTERVAL_MS": "0",
    "JOBS_EVENTS_KEEPALIVE_SECONDS": "1",
    "RQ_JOB_MONITORING_INTERVAL": "1",
}


def _notes(user, count: int) -> None:
    Note.objects.bulk_create(
        Note(user=user, title=f"Note {i}", content=f"entry {i} " * (i % 7 + 1)) for i in range(count)
    )


def _headers(user, **extra) -> dict:
    token, _ = user_token_issue(user=user)
    return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture
def processes(subprocess_env, manage_py, tmp_path):
    """Start the web server and workers on demand; every process is killed at the end."""
    started = []

    def web(**extra_env):
        server = AsgiServer({**subprocess_env, **PROCESS_ENV, **extra_env}, tmp_path / "web.log")
        started.append(server)
        return server

    def worker(**extra_env):
        child = Child(
            [*manage_py, "rqworker", "--without-scheduler"],
            {**subprocess_env, **PROCESS_ENV, **extra_env},
            tmp_path / f"worker-{len(started)}.log",
        )
        started.append(child)
        return child

    yield web, worker
    for process in reversed(started):
        process.stop()


def test_a_client_sees_every_progress_event_in_order_and_a_reconnect_misses_nothing(redis_conn, user, processes):
    web, worker = processes
    _notes(user, 500)
    server = web()
    job, _ = note_embeddings_regenerate_start(user=user)
    path = f"/jobs/{job.job_id}/events"
    watcher = SseClient(server.port, path, _headers(user))
    interrupted = SseClient(server.port, path, _headers(user))
    assert (watcher.status, interrupted.status) == (200, 200)
    first = watcher.next_event()
    assert (first["event"], first["data"]["status"]) == ("status", "queued")
    seen_before = [interrupted.next_event()]
    assert seen_before == [first]

    worker(SEMANTIC_BATCH_SIZE="25", SEMANTIC_SLICE_NOTES="250")  # two slices: the events go on across them
    seen_before += [interrupted.next_event() for _ in range(5)]
    interrupted.close()  # gone mid-job; comes back with the last id it saw
    everything = [first, *watcher.events_until_end()]
    resumed = SseClient(server.port, path, _headers(user, **{"Last-Event-ID": seen_before[-1]["id"]}))
    seen_after = resumed.events_until_end()

    names = [event["event"] for event in everything]
    assert names[:2] == ["status", "status"] and names[-1] == "completed", names
    assert set(names[2:-1]) == {"progress"}
    progress = [event["data"]["processed_items"] for event in everything if event["event"] == "progress"]
    assert progress == list(range(25, 501, 25)), progress
    assert [event["data"]["total_items"] for event in everything[2:-1]] == [500] * len(progress)
    result = everything[-1]["data"]
    assert (result["status"], result["result_data"]["embeddings_generated"]) == ("completed", 500)
    ids = [event["id"] for event in everything]
    assert len(set(ids)) == len(ids)

    # The reconnected client: exactly what it had not seen, no duplicates.
    assert [event["id"] for event in seen_before + seen_after] == ids
    # Once it has seen the end, reconnecting is a 204 (an EventSource then stops).
    ended = SseClient(server.port, path, _headers(user, **{"Last-Event-ID": ids[-1]}))
    assert ended.status == 204


def test_cancelling_a_running_regeneration_stops_it_and_keeps_what_it_wrote(redis_conn, user, auth_client, processes):
    web, worker = processes
    total = 3000
    _notes(user, total)
    server = web()
    job, _ = note_embeddings_regenerate_start(user=user)
    watcher = SseClient(server.port, f"/jobs/{job.job_id}/events", _headers(user))
    worker(SEMANTIC_BATCH_SIZE="1")  # a write per note: seconds of work
    wait_for(
        lambda: BackgroundJob.objects.get(pk=job.pk).processed_items >= 50, timeout=60, interval=0.01, what="progress"
    )

    response = auth_client.post(f"/jobs/{job.job_id}/cancel")
    cancelled_at = time.monotonic()
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    # The slice in flight: the row's rq_job_id moves with each slice.
    rq_job = Job.fetch(BackgroundJob.objects.get(pk=job.pk).rq_job_id, connection=redis_conn)

    def ended() -> bool:
        # "stopped": RQ's stop-job command killed the horse; "canceled": the cancel came
        # between two slices and RQ cancelled the next before it started; "finished" with
        # a "stopped" result: the task met its cancelled row first (at a progress write,
        # or as its slice ended, handing off nothing). Either way it ended.
        status = rq_job.get_status(refresh=True)
        if status == "finished":
            return "stopped" in (rq_job.latest_result().return_value or {})
        return status in ("stopped", "canceled")

    wait_for(ended, timeout=5, interval=0.02, what=f"the job to stop (RQ job {rq_job.id})")
    stopped_after = time.monotonic() - cancelled_at

    written = NoteEmbedding.objects.filter(user=user).count()
    time.sleep(1)  # a horse still running would keep writing
    assert NoteEmbedding.objects.filter(user=user).count() == written
    assert 50 <= written < total, written  # the batches it committed stay
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.CANCELLED and row.completed_at is not None
    event = BackgroundJobEvent.objects.get(job=row, action="cancel")
    assert (event.actor, event.source, event.status_before) == (user, "api", JobStatus.RUNNING)

    streamed = watcher.events_until_end()
    assert streamed[-1]["event"] == "cancelled" and streamed[-1]["data"]["status"] == "cancelled"
    print(f"cancel of a running regeneration: stopped {stopped_after * 1000:.0f} ms after the request")


def test_a_job_cancelled_while_queued_never_runs_on_a_real_worker(redis_conn, user, auth_client, processes):
    _, worker = processes
    _notes(user, 20)
    job, _ = note_embeddings_regenerate_start(user=user)
    assert auth_client.post(f"/jobs/{job.job_id}/cancel").status_code == 200
    follower, _ = note_embeddings_regenerate_start(user=user)  # a sentinel queued behind it
    worker()
    wait_for(
        lambda: BackgroundJob.objects.get(pk=follower.pk).status == JobStatus.COMPLETED, timeout=60, what="sentinel"
    )
    row = BackgroundJob.objects.get(pk=job.pk)
    assert (row.status, row.attempts, row.started_at) == (JobStatus.CANCELLED, 0, None)
