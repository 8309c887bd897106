"""End to end through a real forking ScribesWorker on a real Redis."""

import os
import signal

import django_rq
import pytest

from common import queues
from jobs import services as job_services
from jobs.models import BackgroundJob, JobStatus
from jobs.tests.utils import work_burst
from notes.models import Note
from semantic.embedders import HashingEmbedder
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, text_hash

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/semantic/regenerate-embeddings"

TOPICS = [
    ("Dog", "took my puppy for a long walk in the park, he chased squirrels"),
    ("Taxes", "quarterly tax filing: receipts, invoices and the accountant's forms"),
    ("Cooking", "simmered a tomato sauce with garlic and basil for the pasta"),
    ("Running", "interval training on the track, five kilometres in the rain"),
    ("Music", "practised the piano sonata, the left hand still stumbles"),
]


def make_150_notes(user):
    Note.objects.bulk_create(
        Note(user=user, title=f"{title} {i}", content=f"{text} (entry {i})")
        for i in range(30)
        for title, text in TOPICS
    )


@pytest.fixture
def progress_log(monkeypatch, tmp_path, settings):
    """Record the row's status and percent after every progress update (written by the work-horse)."""
    settings.JOBS_PROGRESS_INTERVAL_MS = 0  # every batch writes, however fast
    path = tmp_path / "progress.txt"
    original = job_services.background_job_set_progress

    def recording(*, job_id, processed, total):
        written = original(job_id=job_id, processed=processed, total=total)
        row = BackgroundJob.objects.get(pk=job_id)
        with open(path, "a") as fh:
            fh.write(f"{row.status} {row.progress_percent} {row.processed_items}/{row.total_items}\n")
        return written

    monkeypatch.setattr(job_services, "background_job_set_progress", recording)
    return lambda: path.read_text().splitlines() if path.exists() else []


@pytest.mark.realmodel
def test_150_notes_with_the_real_model_end_to_end(redis_conn, minilm, user, auth_client, progress_log):
    make_150_notes(user)
    response = auth_client.post(URL, {}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"

    work_burst()

    job = auth_client.get(response["Location"]).json()
    assert job["status"] == "completed", job["error_message"]
    assert (job["progress_percent"], job["processed_items"], job["total_items"]) == (100, 150, 150)
    assert progress_log() == [
        "running 42 64/150",
        "running 85 128/150",
        "running 100 150/150",
    ]
    result = job["result_data"]
    assert result["embeddings_generated"] == 150 and result["failed_notes"] == 0
    assert result["model"] == "all-MiniLM-L6-v2" and result["seconds"] > 0
    assert NoteEmbedding.objects.filter(user=user, model="all-MiniLM-L6-v2").count() == 150

    found = auth_client.get("/semantic/search", {"q": "dog", "limit": 5}).json()
    assert found["unindexed"] == 0
    assert all(r["title"].startswith("Dog") for r in found["results"]), found
    found = auth_client.get("/semantic/search", {"q": "government paperwork", "limit": 3}).json()
    assert all(r["title"].startswith("Taxes") for r in found["results"]), found


def test_user_with_no_notes_gets_a_completed_job_with_zeros(redis_conn, auth_client):
    response = auth_client.post(URL)
    work_burst()
    job = auth_client.get(response["Location"]).json()
    assert job["status"] == "completed"
    assert job["result_data"]["embeddings_generated"] == 0 and job["result_data"]["failed_notes"] == 0
    assert job["progress_percent"] == 100


def test_work_horse_killed_mid_slice_is_retried_without_redoing_finished_notes(
    redis_conn, user, auth_client, settings, monkeypatch, tmp_path
):
    settings.SEMANTIC_BATCH_SIZE = 50
    settings.JOBS_PROGRESS_INTERVAL_MS = 0  # the first batch's progress is written before the kill
    make_150_notes(user)
    calls = []
    encoded = tmp_path / "encoded.txt"
    original = HashingEmbedder.encode

    def dies_on_second_batch(self, texts):
        calls.append(1)  # the horse's own copy of the list: every attempt dies on its second batch
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
        with open(encoded, "a") as fh:
            fh.writelines(text.replace("\n", " ") + "\n" for text in texts)
        return original(self, texts)

    monkeypatch.setattr(HashingEmbedder, "encode", dies_on_second_batch)
    response = auth_client.post(URL)
    work_burst()
    row = BackgroundJob.objects.get(pk=response.json()["job_id"])
    # Three attempts of the slice (max_retries=2): each kept its first batch and skipped the ones before.
    assert row.status == JobStatus.COMPLETED, row.error_message
    assert row.attempts == 3
    assert NoteEmbedding.objects.filter(user=user).count() == 150
    lines = encoded.read_text().splitlines()
    assert len(lines) == 150 and len(set(lines)) == 150  # no note was embedded twice


def test_work_horse_killed_on_every_attempt_fails_the_row_and_keeps_what_was_written(
    redis_conn, user, auth_client, settings, monkeypatch
):
    settings.SEMANTIC_BATCH_SIZE = 10
    make_150_notes(user)
    original = HashingEmbedder.encode
    calls = []

    def dies_on_second_batch(self, texts):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, texts)

    monkeypatch.setattr(HashingEmbedder, "encode", dies_on_second_batch)
    response = auth_client.post(URL)
    work_burst()
    row = BackgroundJob.objects.get(pk=response.json()["job_id"])
    assert row.status == JobStatus.FAILED and row.attempts == 3
    assert "Work-horse terminated unexpectedly by signal SIGKILL" in row.error_message
    assert NoteEmbedding.objects.count() == 30  # each attempt's first batch stays written


def test_model_that_cannot_load_fails_the_job_with_the_reason(redis_conn, user, auth_client, settings, tmp_path):
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path)
    make_150_notes(user)
    response = auth_client.post(URL)
    work_burst()  # the worker's warm-up fails too, but the worker keeps serving
    row = BackgroundJob.objects.get(pk=response.json()["job_id"])
    assert row.status == JobStatus.FAILED
    assert row.error_message.startswith("EmbedderUnavailable: MiniLM model files not found")


def test_note_edits_through_the_api_are_embedded_by_one_background_job(redis_conn, user, auth_client):
    note_id = auth_client.post("/notes", {"title": "Shopping", "content": "eggs"}, format="json").json()["id"]
    for content in ["eggs, milk", "eggs, milk, bread", "eggs, milk, bread, apples"]:
        assert auth_client.patch(f"/notes/{note_id}", {"content": content}, format="json").status_code == 200
    assert django_rq.get_queue(queues.SEMANTIC).count == 1

    work_burst()

    stored = NoteEmbedding.objects.get(note_id=note_id)
    note = Note.objects.get(pk=note_id)
    assert stored.text_hash == text_hash(note_embedding_text(title=note.title, content=note.content))
    found = auth_client.get("/semantic/search", {"q": "apples"}).json()
    assert [r["note_id"] for r in found["results"]] == [note_id] and found["unindexed"] == 0
