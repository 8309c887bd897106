"""Fault test: `kill -9` of a real worker and its work-horse in the middle of a regeneration.

Each trial starts a regenerate job, lets a real `manage.py rqworker` get part of
the way (a small batch size makes it many batches), kills the worker's main
process and then its work-horse with SIGKILL, and checks that the reconciler
starts a new attempt of the row with the reason (a regeneration allows retries),
that the attempt completes it without embedding the finished notes again, and
that the vectors written before and after the kill are intact. `FAULT_TRIALS=20` runs the
issue's 20 trials; the default keeps CI short.
"""

import logging
import os
import signal

import numpy as np
import pytest

from jobs.models import BackgroundJob, JobStatus
from jobs.reconciler import WORKER_STOPPED, background_jobs_reconcile
from jobs.tests.faultutils import Child, child_pids, fault_trials, kill_group
from jobs.tests.utils import wait_for, work_burst
from notes.models import Note
from semantic.embedders import get_embedder
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, text_hash
from semantic.services import note_embeddings_regenerate_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TRIALS = fault_trials(3)
NOTES = 800
#: One note per batch: every note is a write and a progress update, so the job
#: runs long enough (about a second) to be killed in the middle.
BATCH = 1
WORKER_ENV = {
    "SEMANTIC_EMBEDDER": "hashing",
    "SEMANTIC_BATCH_SIZE": str(BATCH),
    "SEMANTIC_AUTO_EMBED": "0",
    "JOBS_PROGRESS_INTERVAL_MS": "0",
    "RQ_JOB_MONITORING_INTERVAL": "1",
    "RQ_WORKER_TTL": "15",
}


def _row(job) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job.pk)


def _check_embeddings(user, *, expect_all: bool) -> int:
    """Every stored vector is whole and matches its note's text; at most one row per note."""
    embedder = get_embedder()
    texts = {
        note_id: note_embedding_text(title=title, content=content)
        for note_id, title, content in Note.objects.filter(user=user).values_list("id", "title", "content")
    }
    rows = list(
        NoteEmbedding.objects.filter(user=user).values_list("note_id", "vector", "text_hash", "dimensions", "model")
    )
    note_ids = [row[0] for row in rows]
    assert len(note_ids) == len(set(note_ids)), "a note has two embedding rows"
    for note_id, vector, stored_hash, dimensions, model in rows:
        assert (dimensions, model) == (embedder.dimensions, embedder.model_name)
        size = len(bytes(vector))  # one vector per chunk of a long note
        assert size and size % (embedder.dimensions * 4) == 0, f"note {note_id}: truncated vector"
        assert np.isfinite(np.frombuffer(bytes(vector), dtype=np.float32)).all()
        assert stored_hash == text_hash(texts[note_id]), f"note {note_id}: text_hash does not match its text"
    if expect_all:
        assert set(note_ids) == set(texts)
    return len(rows)


def test_kill_9_mid_regeneration(redis_conn, user, settings, manage_py, subprocess_env, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="jobs.runner")  # the in-process retry logs a line per batch
    settings.SEMANTIC_BATCH_SIZE = BATCH  # the retry below runs in a work-horse forked from this process
    settings.JOBS_PROGRESS_INTERVAL_MS = 0
    settings.RQ_JOB_MONITORING_INTERVAL = 1
    settings.JOBS_HEARTBEAT_GRACE = 1
    settings.JOBS_RECONCILE_GRACE = 0
    Note.objects.bulk_create(
        Note(user=user, title=f"Note {i}", content=f"entry {i} " * (i % 7 + 1)) for i in range(NOTES)
    )
    env = {**subprocess_env, **WORKER_ENV}
    killed = failed = completed = 0
    for trial in range(TRIALS):
        NoteEmbedding.objects.all().delete()
        job, created = note_embeddings_regenerate_start(user=user)
        assert created
        # Kill at a different point each trial, never at the very start or end.
        kill_at = NOTES * (1 + trial % 5) // 7
        worker = Child([*manage_py, "rqworker", "--without-scheduler"], env, tmp_path / f"worker-{trial}.log")
        try:
            wait_for(
                lambda: _row(job).processed_items >= kill_at,  # noqa: B023
                timeout=60,
                interval=0.005,
                what=f"trial {trial}: regeneration to pass {kill_at} notes",
            )
            horses = child_pids(worker.pid)
            os.kill(worker.pid, signal.SIGKILL)  # the worker first: nothing may record the horse's death
            for horse in horses:
                kill_group(horse)
            worker.process.wait(timeout=10)
        finally:
            worker.stop()
        row = _row(job)
        assert row.status == JobStatus.RUNNING, f"trial {trial}: job ended before the kill ({row.status})"
        assert 0 < row.processed_items < NOTES
        killed += 1
        written = _check_embeddings(user, expect_all=False)
        # Vectors are written before progress is reported: at most one batch ahead.
        assert row.processed_items <= written <= row.processed_items + BATCH

        def reconciled():
            background_jobs_reconcile()
            return _row(job).status != JobStatus.RUNNING  # noqa: B023

        wait_for(reconciled, timeout=30, interval=0.25, what=f"trial {trial}: reconciler to repair the row")
        row = _row(job)
        assert row.status == JobStatus.QUEUED, row.status
        event = row.events.get(action="retry", source="reconciler")
        assert event.reason.startswith(WORKER_STOPPED) and "retrying" in event.reason, event.reason
        failed += 1

        work_burst()
        row = _row(job)
        assert row.status == JobStatus.COMPLETED, row.error_message
        # The notes written before the kill are current and were not embedded again.
        result = row.result_data
        assert result["already_current"] == written and result["embeddings_generated"] == NOTES
        assert result["failed_notes"] == 0
        assert _check_embeddings(user, expect_all=True) == NOTES
        completed += 1

    stuck = BackgroundJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count()
    print(
        f"kill-9 regeneration: {TRIALS} trials, {killed} killed mid-way, {failed} retried by the reconciler, "
        f"{completed} completed by the retry, {stuck} stuck"
    )
    assert (killed, failed, completed, stuck) == (TRIALS, TRIALS, TRIALS, 0)
