"""Fair model work: new notes before regeneration slices, regenerations side by side, cancel between slices.

The first tests run a burst worker in-process (deterministic order); the
others run a real `manage.py rqworker --purpose semantic` on a real Redis, with
one note per batch so a few thousand notes take seconds of work.
"""

import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import django_rq
import pytest
from django.db import connections
from django_rq import get_worker
from rq import Worker
from rq.job import Job

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import background_jobs_reconcile
from jobs.tests.faultutils import Child, child_pids, kill_group
from jobs.tests.utils import wait_for, work_burst
from notes.models import Note
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, text_hash
from semantic.services import note_embedding_enqueue, note_embeddings_regenerate_start

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {
    "SEMANTIC_EMBEDDER": "hashing",
    "SEMANTIC_BATCH_SIZE": "1",  # a write per note: seconds of work for a few thousand notes
    "SEMANTIC_SLICE_NOTES": "50",
    "SEMANTIC_SLICE_SECONDS": "1",
    "JOBS_PROGRESS_INTERVAL_MS": "0",
    "RQ_JOB_MONITORING_INTERVAL": "1",
}
#: How long a new note may wait for a semantic worker busy with a regeneration:
#: one slice (SEMANTIC_SLICE_SECONDS=1, at most one batch over) plus the embed and slack for a loaded CI host.
SEARCHABLE_BOUND = 10
SLOWMODEL = str(Path(__file__).resolve().parents[2] / "scribes" / "tests" / "slowmodel.py")


def _notes(user, count: int, word: str = "entry") -> None:
    Note.objects.bulk_create(
        Note(user=user, title=f"Note {i}", content=f"{word} {i} " * (i % 7 + 1)) for i in range(count)
    )


def django_rq_count(name: str) -> int:
    return django_rq.get_queue(name).count


def _row(job) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job.pk)


def _runs(user_ids: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of the same user: [(user_id, length), ...]."""
    runs: list[tuple[int, int]] = []
    for user_id in user_ids:
        if runs and runs[-1][0] == user_id:
            runs[-1] = (user_id, runs[-1][1] + 1)
        else:
            runs.append((user_id, 1))
    return runs


@pytest.fixture
def semantic_worker(subprocess_env, manage_py, tmp_path):
    started = []

    def start(**extra_env):
        child = Child(
            [*manage_py, "rqworker", "--purpose", "semantic", "--without-scheduler"],
            {**subprocess_env, **WORKER_ENV, **extra_env},
            tmp_path / f"worker-{len(started)}.log",
        )
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


def test_a_new_note_is_embedded_before_any_queued_regeneration_slice(redis_conn, user, other_user, settings):
    settings.SEMANTIC_SLICE_NOTES = 20
    _notes(user, 100)
    job, _ = note_embeddings_regenerate_start(user=user)
    assert django_rq_count(queues.SEMANTIC_BULK) == 1
    note = Note.objects.create(user=other_user, title="Groceries", content="eggs and milk")
    assert note_embedding_enqueue(user_id=other_user.pk, note_id=note.pk)  # enqueued after the regeneration

    work_burst(queue_names=queues.PURPOSES["semantic"])

    first_slice_write = NoteEmbedding.objects.filter(user=user).order_by("updated_at", "note_id").first().updated_at
    assert NoteEmbedding.objects.get(note=note).updated_at < first_slice_write
    row = _row(job)
    assert row.status == JobStatus.COMPLETED and row.result_data["slices"] == 5
    assert row.result_data["embeddings_generated"] == 100 and row.processed_items == row.total_items == 100


def test_two_regenerations_alternate_slice_by_slice(redis_conn, user, other_user, settings):
    settings.SEMANTIC_SLICE_NOTES = 20
    _notes(user, 100)
    _notes(other_user, 100)
    first, _ = note_embeddings_regenerate_start(user=user)
    second, _ = note_embeddings_regenerate_start(user=other_user)

    work_burst(queue_names=queues.PURPOSES["semantic"])

    order = list(NoteEmbedding.objects.order_by("updated_at", "note_id").values_list("user_id", flat=True))
    # Round robin by user: A's slice, B's slice, A's, ... (5 slices of 20 notes each).
    assert _runs(order) == [(user.pk, 20), (other_user.pk, 20)] * 5
    for job in (first, second):
        row = _row(job)
        assert row.status == JobStatus.COMPLETED and row.result_data["slices"] == 5
        assert row.result_data["embeddings_generated"] == 100 and row.attempts == 1


def test_cancel_between_slices_starts_no_new_slice(redis_conn, user, auth_client, settings):
    settings.SEMANTIC_SLICE_NOTES = 20
    _notes(user, 100)
    job, _ = note_embeddings_regenerate_start(user=user)
    # One slice runs; the worker stops before the next (max_jobs=1).
    connections.close_all()
    get_worker(*queues.PURPOSES["semantic"]).work(burst=True, max_jobs=1, with_scheduler=False)
    row = _row(job)
    assert row.status == JobStatus.RUNNING and row.processed_items == 20
    next_slice = Job.fetch(row.rq_job_id, connection=redis_conn)
    assert next_slice.get_status() == "queued" and next_slice.origin == queues.SEMANTIC_BULK

    assert auth_client.post(f"/jobs/{job.job_id}/cancel").json()["status"] == "cancelled"
    work_burst(queue_names=queues.PURPOSES["semantic"])

    assert NoteEmbedding.objects.filter(user=user).count() == 20  # the first slice's vectors stay
    row = _row(job)
    assert row.status == JobStatus.CANCELLED and row.rq_job_id == next_slice.id
    assert django_rq_count(queues.SEMANTIC_BULK) == 0


@pytest.mark.slow
def test_another_users_new_note_is_searchable_while_a_regeneration_runs(
    redis_conn, user, other_user, other_client, semantic_worker
):
    total = 3000
    _notes(user, total)
    job, _ = note_embeddings_regenerate_start(user=user)
    semantic_worker()
    wait_for(lambda: _row(job).processed_items >= 100, timeout=60, interval=0.02, what="A's regeneration to start")

    response = other_client.post("/notes", {"title": "Sailing", "content": "we reefed the mainsail"}, format="json")
    created = time.monotonic()
    note_id = response.json()["id"]

    def found():
        body = other_client.get("/semantic/search", {"q": "mainsail reefed", "mode": "semantic"}).json()
        return note_id in [r["note_id"] for r in body["results"]]

    wait_for(found, timeout=SEARCHABLE_BOUND, interval=0.3, what="B's note to be found by meaning")
    waited = time.monotonic() - created
    row = _row(job)
    assert row.status == JobStatus.RUNNING and row.processed_items < total, "A's regeneration ended first"
    print(f"B's new note searchable {waited:.2f} s after its create, A's regeneration at {row.processed_items}/{total}")

    wait_for(lambda: _row(job).status == JobStatus.COMPLETED, timeout=120, interval=0.2, what="A's regeneration")
    assert NoteEmbedding.objects.filter(user=user).count() == total


@pytest.mark.slow
def test_two_users_regenerations_progress_side_by_side_on_one_worker(redis_conn, user, other_user, semantic_worker):
    total = 1000
    _notes(user, total)
    _notes(other_user, total, word="item")
    first, _ = note_embeddings_regenerate_start(user=user)
    second, _ = note_embeddings_regenerate_start(user=other_user)
    semantic_worker()
    samples = []

    def both_done():
        a, b = _row(first), _row(second)
        samples.append((a.status, a.processed_items, b.status, b.processed_items))
        return a.status == b.status == JobStatus.COMPLETED

    wait_for(both_done, timeout=120, interval=0.05, what="both regenerations")
    # Each one's progress moved while the other was still running (and not yet finished).
    a_moved = any(
        s[1] > p[1] and s[2] == p[2] == JobStatus.RUNNING and 0 < p[3] < total
        for p, s in zip(samples, samples[1:], strict=False)
    )
    b_moved = any(
        s[3] > p[3] and s[0] == p[0] == JobStatus.RUNNING and 0 < p[1] < total
        for p, s in zip(samples, samples[1:], strict=False)
    )
    assert a_moved and b_moved, samples[::10]
    for job, owner in ((first, user), (second, other_user)):
        row = _row(job)
        assert row.result_data["embeddings_generated"] == total and row.result_data["slices"] >= total // 50
        assert NoteEmbedding.objects.filter(user=owner).count() == total


@pytest.mark.slow
def test_cancel_mid_regeneration_on_a_real_worker(redis_conn, user, auth_client, semantic_worker):
    total = 3000
    _notes(user, total)
    job, _ = note_embeddings_regenerate_start(user=user)
    semantic_worker()
    wait_for(lambda: _row(job).processed_items >= 120, timeout=60, interval=0.02, what="a few slices")

    assert auth_client.post(f"/jobs/{job.job_id}/cancel").json()["status"] == "cancelled"
    last = _row(job).rq_job_id
    time.sleep(0.5)  # the slice in flight is stopped (its horse killed) or ends at its next progress write
    written = NoteEmbedding.objects.filter(user=user).count()
    time.sleep(2)  # a slice started after the cancel would keep writing
    assert NoteEmbedding.objects.filter(user=user).count() == written
    assert 120 <= written < total
    row = _row(job)
    assert row.status == JobStatus.CANCELLED and row.rq_job_id == last  # no slice handed on after the cancel
    assert django_rq_count(queues.SEMANTIC_BULK) == 0


def _slices_running(redis_conn, job) -> dict[str, str]:
    """The slices of `job`'s regeneration running now: {worker name: RQ job id}."""
    registry = django_rq.get_queue(queues.SEMANTIC_BULK).started_job_registry
    running = {}
    for rq_job in Job.fetch_many(registry.get_job_ids(), connection=redis_conn):
        meta = (rq_job.meta or {}) if rq_job is not None else {}
        ours = str(job.pk) in (meta.get("regeneration"), meta.get("background_job_id"))
        if ours and rq_job.get_status(refresh=False) == "started" and rq_job.worker_name:
            running[rq_job.worker_name] = rq_job.id
    return running


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["window", "round"])
def test_two_workers_share_a_regeneration_and_a_kill_9_mid_slice_loses_nothing(
    redis_conn, user, settings, subprocess_env, tmp_path, victim
):
    """Both workers run slices of one regeneration at once; one is killed (with its horse) mid-slice.

    `window`: the killed worker ran a window the round handed out; RQ's
    abandoned-job cleanup (which the reconciler runs for the waiting round, after
    RQ's heartbeat TTL of RQ_JOB_MONITORING_INTERVAL + 60 s) retries it on the
    other worker. `round`: the killed worker ran the row's own slice; the
    reconciler sees its heartbeat stop and starts a new attempt of the row. Either
    way the row completes within 2 minutes of the kill, every note ends with
    exactly one vector of its current text, and no note is embedded twice beyond
    the batches in flight when the kill or the new attempt cut in (one each).
    """
    settings.RQ_JOB_MONITORING_INTERVAL = 1  # the reconciler in this process judges heartbeats by these
    settings.JOBS_HEARTBEAT_GRACE = 1
    settings.JOBS_RECONCILE_GRACE = 0
    total = 2000
    _notes(user, total)
    embed_log = tmp_path / "embedded.log"
    # Batches of 10 notes, 0.01 s a model call: a window of 100 notes takes about a second.
    env = {**subprocess_env, **WORKER_ENV, "SEMANTIC_SLICE_NOTES": "100", "SEMANTIC_BATCH_SIZE": "10",
           "SLOW_EMBED_SECONDS": "0.01", "EMBED_LOG": str(embed_log)}  # fmt: skip
    workers = [
        Child(
            [sys.executable, SLOWMODEL, "rqworker", "--purpose", "semantic", "--without-scheduler"],
            env,
            tmp_path / f"worker-{i}.log",
        )  # fmt: skip
        for i in range(2)
    ]
    try:
        wait_for(lambda: len(Worker.all(connection=redis_conn)) == 2, timeout=60, interval=0.1, what="two workers")
        job, _ = note_embeddings_regenerate_start(user=user)
        row_slice = lambda running: _row(job).rq_job_id in running.values()  # noqa: E731

        def both_busy():
            running = _slices_running(redis_conn, job)
            wanted = row_slice(running) if victim == "round" else True
            return len(running) == 2 and wanted and running

        shared = wait_for(both_busy, timeout=60, interval=0.02, what="both workers running slices of it at once")
        pids = {worker.name: worker.pid for worker in Worker.all(connection=redis_conn)}
        own = _row(job).rq_job_id
        name = next(name for name, rq_id in shared.items() if (rq_id == own) == (victim == "round"))
        child = next(child for child in workers if child.pid == pids[name])
        horses = child_pids(child.pid)
        os.kill(child.pid, signal.SIGKILL)  # a host gone: the worker and its work-horse
        for horse in horses:
            kill_group(horse)
        killed_at = time.monotonic()
        written_at_kill = NoteEmbedding.objects.filter(user=user).count()
        assert written_at_kill < total, "the regeneration ended before the kill"

        def done():
            background_jobs_reconcile()
            return _row(job).status == JobStatus.COMPLETED

        wait_for(done, timeout=120, interval=0.5, what="the regeneration to complete on the surviving worker")
        recovered = time.monotonic() - killed_at
    finally:
        for child in workers:
            for horse in child_pids(child.pid):
                kill_group(horse)
            child.stop()
    row = _row(job)
    repairs = list(row.events.filter(source="reconciler").values_list("action", flat=True))
    if victim == "round":
        assert row.attempts == 2 and repairs == ["retry"], (row.attempts, repairs)
    else:
        assert row.attempts == 1 and repairs == [], (row.attempts, repairs)
    assert row.result_data["embeddings_generated"] == total and row.result_data["failed_notes"] == 0
    texts = {
        note_id: text_hash(note_embedding_text(title=title, content=content))
        for note_id, title, content in Note.objects.filter(user=user).values_list("id", "title", "content")
    }
    vectors = list(NoteEmbedding.objects.filter(user=user).values_list("note_id", "text_hash"))
    assert len(vectors) == len({note_id for note_id, _ in vectors}) == total  # one vector per note, none missing
    assert all(texts[note_id] == digest for note_id, digest in vectors)
    embedded = Counter(embed_log.read_text().splitlines())
    twice = sorted(title for title, n in embedded.items() if n > 1)
    assert len(embedded) == total and len(twice) <= 2 * 10, twice
    print(
        f"two workers, {victim} killed: {written_at_kill}/{total} written at the kill; completed {recovered:.1f} s "
        f"after it; {len(twice)} note(s) embedded twice {twice}; {row.result_data['slices']} slices"
    )
