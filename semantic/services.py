"""Writes for semantic search: compute and store note vectors, schedule and start that work."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.models import BackgroundJob
from jobs.rqkeys import rq_connection
from jobs.selectors import background_job_active_for_user
from jobs.services import JobEnqueueError, background_job_start
from notes.models import Note
from semantic.chunking import chunk_text
from semantic.embedders import Embedder, get_embedder
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, note_ids_to_embed, text_hash

logger = logging.getLogger(__name__)

REGENERATE_JOB_TYPE = "regenerate_embeddings"
#: The tracked job that embeds a user's just-written notes (coalesced per user).
EMBED_PENDING_JOB_TYPE = "embed_pending_notes"
#: Failed note ids kept in a job's result_data (the count is always exact).
FAILED_IDS_KEPT = 100

_UPSERT_FIELDS = ["user", "model", "dimensions", "vector", "text_hash", "updated_at"]


@dataclass
class _Tally:
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    chunks: int = 0
    failed_ids: list[int] = field(default_factory=list)

    def fail(self, note_id: int) -> None:
        self.failed += 1
        if len(self.failed_ids) < FAILED_IDS_KEPT:
            self.failed_ids.append(note_id)


def _encode_batch(embedder: Embedder, texts: list[str], log) -> list[np.ndarray | None]:
    """One model call for the batch; if it raises, note by note so one bad note fails alone."""
    try:
        vectors = embedder.encode(texts)
        return [vectors[i] for i in range(len(texts))]
    except Exception as exc:
        log.warning(
            "Model call failed for a batch of %d (%s: %s); retrying note by note", len(texts), type(exc).__name__, exc
        )
    out: list[np.ndarray | None] = []
    for text in texts:
        try:
            out.append(embedder.encode([text])[0])
        except Exception:
            out.append(None)
    return out


def _bulk_upsert(objs: list[NoteEmbedding]) -> int:
    """Write a batch in one statement; if a note vanished meanwhile, write the survivors.

    Foreign keys are checked at commit, so a note deleted between the batch's read
    and this write surfaces here as an IntegrityError. Returns how many were written.
    """
    if not objs:
        return 0
    try:
        NoteEmbedding.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["note"], update_fields=_UPSERT_FIELDS
        )
        return len(objs)
    except IntegrityError:
        alive = set(Note.objects.filter(pk__in=[o.note_id for o in objs]).values_list("id", flat=True))
        survivors = [o for o in objs if o.note_id in alive]
        if survivors:
            NoteEmbedding.objects.bulk_create(
                survivors, update_conflicts=True, unique_fields=["note"], update_fields=_UPSERT_FIELDS
            )
        return len(survivors)


def _embed_batch(*, embedder: Embedder, user, note_ids: list[int], tally: _Tally, log) -> None:
    """Read, encode and write one batch: two queries whatever its size.

    A note longer than the model's window is embedded chunk by chunk (one model
    call for all the batch's chunks) and stored as one row holding its chunk
    vectors back to back, so every count (progress, missing, stale, doctor)
    stays a count of notes.
    """
    rows = list(Note.objects.filter(pk__in=note_ids, user=user).values_list("id", "title", "content"))
    tally.deleted += len(note_ids) - len(rows)
    texts = [note_embedding_text(title=title, content=content) for _, title, content in rows]
    chunks = [chunk_text(text) for text in texts]
    flat = [piece for pieces in chunks for piece in pieces]
    flat_vectors = _encode_batch(embedder, flat, log) if flat else []
    now = timezone.now()
    objs = []
    position = 0
    for (note_id, _, _), text, pieces in zip(rows, texts, chunks, strict=True):
        vectors = flat_vectors[position : position + len(pieces)]
        position += len(pieces)
        if any(v is None or v.shape != (embedder.dimensions,) or not np.isfinite(v).all() for v in vectors):
            tally.fail(note_id)
            continue
        tally.chunks += len(vectors)
        objs.append(
            NoteEmbedding(
                note_id=note_id,
                user_id=user.pk,
                model=embedder.model_name,
                dimensions=embedder.dimensions,
                vector=np.asarray(vectors, dtype=np.float32).tobytes(),
                text_hash=text_hash(text),
                updated_at=now,
            )
        )
    written = _bulk_upsert(objs)
    tally.succeeded += written
    tally.deleted += len(objs) - written


def note_embeddings_regenerate(
    *,
    user,
    only_stale: bool = False,
    note_ids: list[int] | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> dict:
    """Embed the user's notes (all, or only missing/stale ones) in batches.

    Per batch: one read, one model call, one bulk upsert, one progress report. Each
    batch commits on its own (no transaction around the run), so progress and the
    vectors written so far are visible while it runs. A note that fails to embed is
    counted and skipped; a note deleted meanwhile is skipped. A model that cannot
    load raises (the job fails with the reason).
    """
    log = log or logger
    started = time.monotonic()
    embedder = get_embedder()
    embedder.load()
    size = batch_size or settings.SEMANTIC_BATCH_SIZE
    ids = note_ids_to_embed(user=user, model=embedder.model_name, only_stale=only_stale, note_ids=note_ids)
    total = len(ids)
    tally = _Tally()
    if progress:
        progress(0, total)
    for start in range(0, total, size):
        batch = ids[start : start + size]
        _embed_batch(embedder=embedder, user=user, note_ids=batch, tally=tally, log=log)
        processed = start + len(batch)
        if progress:
            progress(processed, total)
        log.info(
            "Batch complete: %d/%d processed, %d failed, %d%% done",
            processed,
            total,
            tally.failed,
            round(processed * 100 / total),
        )
    log.info("Embedding regeneration complete: %d succeeded, %d failed", tally.succeeded, tally.failed)
    return {
        "embeddings_generated": tally.succeeded,
        "chunks_embedded": tally.chunks,
        "failed_notes": tally.failed,
        "failed_note_ids": tally.failed_ids,
        "deleted_notes": tally.deleted,
        "total_notes": total,
        "only_stale": only_stale,
        "model": embedder.model_name,
        "seconds": round(time.monotonic() - started, 3),
    }


def note_embeddings_regenerate_start(*, user, only_stale: bool = False) -> tuple[BackgroundJob, bool]:
    """Start the caller's regenerate job, or return the one already queued/running.

    Returns `(job, created)`. The user's row is locked while checking, so two
    concurrent requests cannot both start one (SQLite serializes writers anyway).
    Raises `JobEnqueueError` (503) when Redis refuses the job.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        existing = background_job_active_for_user(user=user, job_type=REGENERATE_JOB_TYPE)
        if existing is not None:
            return existing, False
        job = background_job_start(job_type=REGENERATE_JOB_TYPE, user=user, params={"only_stale": only_stale})
    return job, True


# --- Coalesced background embedding of edited notes ----------------------------


def _pending_key(user_id: int) -> str:
    return f"scribes:semantic:pending:{user_id}"


def _scheduled_key(user_id: int) -> str:
    return f"scribes:semantic:scheduled:{user_id}"


def note_embedding_schedule(*, note: Note) -> None:
    """After the current transaction commits, have the note (re-)embedded in the background."""
    if not settings.SEMANTIC_AUTO_EMBED:
        return
    user_id, note_id = note.user_id, note.pk
    transaction.on_commit(lambda: note_embedding_enqueue(user_id=user_id, note_id=note_id))


def note_embedding_enqueue(*, user_id: int, note_id: int) -> bool:
    """Add the note to its owner's pending set; enqueue a job only if none is scheduled.

    A burst of edits adds ids to one set and starts one tracked job (the `SET NX`
    marker; a `BackgroundJob` row of type `embed_pending_notes` on the
    interactive SEMANTIC queue); the job clears the marker before it takes the
    set, so an edit that arrives while it runs schedules the next one. Redis
    being down never fails the note write: the note stays unindexed until a
    regenerate catches it up. Returns True when a job was enqueued.
    """
    try:
        connection = rq_connection()
        pipe = connection.pipeline(transaction=True)
        pipe.sadd(_pending_key(user_id), note_id)
        pipe.expire(_pending_key(user_id), 7 * 24 * 3600)
        pipe.set(_scheduled_key(user_id), "1", nx=True, ex=settings.SEMANTIC_SCHEDULE_TTL)
        first = pipe.execute()[2]
        if not first:
            return False
        try:
            background_job_start(job_type=EMBED_PENDING_JOB_TYPE, user=get_user_model()(pk=user_id))
        except (RedisError, JobEnqueueError):
            # The row is failed with the reason; the next edit schedules again.
            connection.delete(_scheduled_key(user_id))
            raise
    except (RedisError, JobEnqueueError) as exc:
        logger.warning("Could not schedule embedding of note %s: Redis unavailable (%s)", note_id, exc)
        return False
    return True


def note_embeddings_embed_pending(*, user_id: int, progress=None, log=None) -> dict:
    """Embed the notes of `user_id` that edits queued since the last run (only stale ones)."""
    connection = rq_connection()
    connection.delete(_scheduled_key(user_id))
    pipe = connection.pipeline(transaction=True)
    pipe.smembers(_pending_key(user_id))
    pipe.delete(_pending_key(user_id))
    members = pipe.execute()[0]
    note_ids = sorted(int(member) for member in members)
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not note_ids:
        return {"embeddings_generated": 0, "failed_notes": 0, "total_notes": 0}
    try:
        return note_embeddings_regenerate(user=user, only_stale=True, note_ids=note_ids, progress=progress, log=log)
    except Exception:
        # Put the ids back so the next edit (or a retry) picks them up.
        try:
            connection.sadd(_pending_key(user_id), *note_ids)
        except RedisError:
            pass
        raise
