"""The regenerate service: batches, staleness, failures, query counts, operator logs."""

import logging

import numpy as np
import pytest

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.runner import JobContext
from notes.models import Note
from semantic import services
from semantic.embedders import HashingEmbedder
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, note_ids_to_embed, text_hash
from semantic.services import note_embeddings_regenerate

pytestmark = pytest.mark.django_db


def texts(n, prefix="Note"):
    return [f"{prefix} {i}: some words about topic {i % 7}" for i in range(n)]


def test_embeds_every_note_with_model_and_text_hash(user, make_notes):
    notes = make_notes(user, texts(5))
    result = note_embeddings_regenerate(user=user)
    assert result["embeddings_generated"] == 5
    assert result["failed_notes"] == 0 and result["failed_note_ids"] == []
    assert result["model"] == "hashing-384"
    assert result["seconds"] >= 0
    stored = NoteEmbedding.objects.get(note=notes[0])
    assert stored.user_id == user.pk and stored.model == "hashing-384" and stored.dimensions == 384
    assert stored.text_hash == text_hash(note_embedding_text(title=notes[0].title, content=notes[0].content))
    vector = np.frombuffer(bytes(stored.vector), dtype=np.float32)
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_only_the_callers_notes_are_embedded(user, other_user, make_notes):
    make_notes(user, texts(3))
    make_notes(other_user, texts(4))
    assert note_embeddings_regenerate(user=user)["embeddings_generated"] == 3
    assert NoteEmbedding.objects.filter(user=other_user).count() == 0


def test_user_with_no_notes_gets_zeros(user, caplog):
    with caplog.at_level(logging.INFO):
        result = note_embeddings_regenerate(user=user)
    assert result["embeddings_generated"] == 0 and result["failed_notes"] == 0 and result["total_notes"] == 0
    assert "Embedding regeneration complete: 0 succeeded, 0 failed" in caplog.messages


def test_notes_are_embedded_longest_first_in_both_modes(user, make_notes):
    # The model's allocator then reuses the first batch's memory for every later one.
    notes = make_notes(user, ["Short: a", "Longest: " + "word " * 50, "Middle: " + "word " * 10, "Twin: a"])
    by_id = {note.title: note.pk for note in notes}
    expected = [by_id["Longest"], by_id["Middle"], by_id["Short"], by_id["Twin"]]
    assert note_ids_to_embed(user=user, model="hashing-384", only_stale=False) == expected
    assert note_ids_to_embed(user=user, model="hashing-384", only_stale=True) == expected


def test_only_stale_embeds_missing_edited_and_other_model_notes(user, make_notes):
    notes = make_notes(user, texts(6))
    note_embeddings_regenerate(user=user)
    Note.objects.filter(pk=notes[0].pk).update(content="edited text")
    NoteEmbedding.objects.filter(note=notes[1]).delete()
    NoteEmbedding.objects.filter(note=notes[2]).update(model="some-older-model")
    result = note_embeddings_regenerate(user=user, only_stale=True)
    assert result["embeddings_generated"] == 3 and result["total_notes"] == 3
    assert note_embeddings_regenerate(user=user, only_stale=True)["total_notes"] == 0
    assert note_embeddings_regenerate(user=user)["embeddings_generated"] == 6


def test_operator_log_lines(user, make_notes, caplog):
    make_notes(user, texts(150))
    with caplog.at_level(logging.INFO, logger="semantic"):
        note_embeddings_regenerate(user=user, batch_size=50)
    assert [m for m in caplog.messages if m.startswith("Batch complete")] == [
        "Batch complete: 50/150 processed, 0 failed, 33% done",
        "Batch complete: 100/150 processed, 0 failed, 67% done",
        "Batch complete: 150/150 processed, 0 failed, 100% done",
    ]
    assert "Embedding regeneration complete: 150 succeeded, 0 failed" in caplog.messages


def test_batches_follow_the_setting(user, make_notes, settings, monkeypatch):
    settings.SEMANTIC_BATCH_SIZE = 64
    make_notes(user, texts(150))
    calls = []
    original = HashingEmbedder.encode
    monkeypatch.setattr(HashingEmbedder, "encode", lambda self, t: calls.append(len(t)) or original(self, t))
    note_embeddings_regenerate(user=user)
    assert calls == [64, 64, 22]  # one model call per batch


def _running_job(user):
    return BackgroundJob.objects.create(
        job_type="regenerate_embeddings", user=user, queue=queues.SEMANTIC, status=JobStatus.RUNNING
    )


@pytest.mark.parametrize("notes_per_batch", [5, 20])
def test_queries_per_batch_are_constant(user, make_notes, django_assert_num_queries, notes_per_batch, settings):
    settings.JOBS_PROGRESS_INTERVAL_MS = 0  # every batch writes its progress, however fast
    make_notes(user, texts(4 * notes_per_batch))
    job = JobContext(_running_job(user))
    # 1 id query + 1 initial progress; then per batch: read, bulk upsert, progress.
    with django_assert_num_queries(2 + 3 * 4):
        result = note_embeddings_regenerate(user=user, batch_size=notes_per_batch, progress=job.progress)
    assert result["embeddings_generated"] == 4 * notes_per_batch
    row = BackgroundJob.objects.get(pk=job.job_id)
    total = 4 * notes_per_batch
    assert (row.processed_items, row.total_items, row.progress_percent) == (total, total, 100)


class PoisonEmbedder(HashingEmbedder):
    """Raises for any model call that includes a note containing POISON."""

    calls = 0

    def encode(self, texts):
        PoisonEmbedder.calls += 1
        if any("POISON" in t for t in texts):
            raise RuntimeError("tensor exploded")
        return super().encode(texts)


def test_model_raising_on_a_batch_fails_only_the_bad_note(user, make_notes, monkeypatch, caplog):
    notes = make_notes(user, texts(9) + ["Bad: POISON here"])
    bad = notes[-1]
    monkeypatch.setattr(services, "get_embedder", lambda: PoisonEmbedder())
    with caplog.at_level(logging.INFO, logger="semantic"):
        result = note_embeddings_regenerate(user=user, batch_size=4)
    assert result["embeddings_generated"] == 9
    assert result["failed_notes"] == 1 and result["failed_note_ids"] == [bad.pk]
    assert not NoteEmbedding.objects.filter(note=bad).exists()
    assert "Embedding regeneration complete: 9 succeeded, 1 failed" in caplog.messages
    assert any("tensor exploded" in m for m in caplog.messages)


def test_non_finite_vectors_are_counted_as_failed(user, make_notes, monkeypatch):
    make_notes(user, texts(3))

    class NaNEmbedder(HashingEmbedder):
        def encode(self, texts):
            out = super().encode(texts)
            out[0, 0] = np.nan
            return out

    monkeypatch.setattr(services, "get_embedder", lambda: NaNEmbedder())
    result = note_embeddings_regenerate(user=user)
    assert (result["embeddings_generated"], result["failed_notes"]) == (2, 1)


def test_a_model_that_cannot_load_fails_the_run(user, make_notes, settings, tmp_path):
    make_notes(user, texts(2))
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path)
    with pytest.raises(Exception, match="model files not found"):
        note_embeddings_regenerate(user=user)


@pytest.mark.django_db(transaction=True)
def test_note_deleted_mid_job_is_skipped_not_fatal(user, make_notes, monkeypatch):
    notes = make_notes(user, texts(6))
    victim = notes[1]

    class DeletingEmbedder(HashingEmbedder):
        def encode(self, texts):
            # The note is read, then deleted by its owner before the batch is written.
            Note.objects.filter(pk=victim.pk).delete()
            return super().encode(texts)

    monkeypatch.setattr(services, "get_embedder", lambda: DeletingEmbedder())
    result = note_embeddings_regenerate(user=user, batch_size=3)
    assert result["embeddings_generated"] == 5
    assert result["failed_notes"] == 0 and result["deleted_notes"] == 1
    assert set(NoteEmbedding.objects.values_list("note_id", flat=True)) == {n.pk for n in notes} - {victim.pk}
