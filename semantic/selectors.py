"""Reads for semantic search: which notes need embedding, and search by meaning.

Search keeps each user's vectors as one float32 matrix in process memory and
checks it against the database with one cheap query per search (the user's
note and vector counts and newest vector write): when nothing changed, a search is
that query, one matrix-vector product, and one query for the top notes' titles.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models.functions import Length

from notes.models import Note
from notes.snippets import SNIPPET_CHARS
from semantic.chunking import chunk_spans
from semantic.embedders import Embedder, get_embedder
from semantic.models import NoteEmbedding


def note_embedding_text(*, title: str, content: str) -> str:
    """The text a note's vectors are computed from: all of it, chunked (`semantic.chunking`)."""
    return f"{title}\n\n{content}".strip()


def content_offset(*, title: str, offset: int) -> int:
    """Where in the note's content a position of its embedding text falls."""
    return max(0, offset - len(title) - 2)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def note_ids_to_embed(*, user, model: str, only_stale: bool, note_ids: list[int] | None = None) -> list[int]:
    """The user's note ids to embed, longest text first (batches of similar length pad less).

    Longest first, as `SentenceTransformer.encode` orders its own batches: the
    first batch then allocates the largest activations and the allocator reuses
    them for every later, smaller one. Shortest first made each batch a little
    larger than any before it, fresh memory every time, and ran the same notes
    about 10% slower (bench/semantic.py).

    With `only_stale`, only notes whose vector is missing, from another model, or
    computed from different text. One query either way.
    """
    notes = Note.objects.filter(user=user)
    if note_ids is not None:
        notes = notes.filter(pk__in=note_ids)
    if not only_stale:
        sized = notes.annotate(size=Length("title") + Length("content")).order_by("-size", "id")
        return list(sized.values_list("id", flat=True))
    rows = notes.values_list("id", "title", "content", "embedding__model", "embedding__text_hash")
    stale: list[tuple[int, int]] = []
    for note_id, title, content, vector_model, vector_hash in rows.iterator(chunk_size=2000):
        text = note_embedding_text(title=title, content=content)
        if vector_model != model or vector_hash != text_hash(text):
            stale.append((-(len(title) + len(content)), note_id))
    return [note_id for _, note_id in sorted(stale)]


def note_unindexed_count(*, user=None, model: str | None = None) -> int:
    """Notes (of `user`, or of everyone) without a vector from `model` (default: the active one)."""
    model = model or get_embedder().model_name
    notes = Note.objects.all() if user is None else Note.objects.filter(user=user)
    return notes.exclude(embedding__model=model).count()


@dataclass(frozen=True)
class _Matrix:
    """A user's chunk vectors, notes in id order, each note's chunks in a contiguous run of rows."""

    version: tuple
    note_ids: np.ndarray  # int64, shape (notes,)
    vectors: np.ndarray  # float32, shape (chunks, dimensions)
    starts: np.ndarray | None = None  # int64 first row of each note; None when every note is one chunk

    @property
    def nbytes(self) -> int:
        return self.note_ids.nbytes + self.vectors.nbytes + (0 if self.starts is None else self.starts.nbytes)

    def note_scores(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(best chunk score per note, all chunk scores)` for a normalized query vector."""
        scores = self.vectors @ query_vector
        if self.starts is None:
            return scores, scores
        return np.maximum.reduceat(scores, self.starts), scores

    def best_chunk(self, index: int, scores: np.ndarray) -> int:
        if self.starts is None:
            return 0
        start = int(self.starts[index])
        end = int(self.starts[index + 1]) if index + 1 < len(self.starts) else len(scores)
        return int(np.argmax(scores[start:end]))


class VectorCache:
    """Per-(user, model) vector matrices, least recently used evicted past a byte budget."""

    def __init__(self):
        self._items: OrderedDict[tuple, _Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, version: tuple) -> _Matrix | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item.version != version:
                return None
            self._items.move_to_end(key)
            return item

    def put(self, key: tuple, item: _Matrix) -> None:
        budget = settings.SEMANTIC_SEARCH_CACHE_MB * 1024 * 1024
        with self._lock:
            self._items.pop(key, None)
            if item.nbytes > budget:
                return
            self._items[key] = item
            total = sum(m.nbytes for m in self._items.values())
            while total > budget:
                _, evicted = self._items.popitem(last=False)
                total -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


vector_cache = VectorCache()


def _load_matrix(*, user, embedder: Embedder, version: tuple) -> _Matrix:
    rows = NoteEmbedding.objects.filter(user=user, model=embedder.model_name, dimensions=embedder.dimensions)
    pairs = list(rows.order_by("note_id").values_list("note_id", "vector"))
    if not pairs:
        empty = np.zeros((0, embedder.dimensions), dtype=np.float32)
        return _Matrix(version, np.zeros(0, dtype=np.int64), empty)
    ids = np.fromiter((note_id for note_id, _ in pairs), dtype=np.int64, count=len(pairs))
    blobs = [bytes(vector) for _, vector in pairs]
    # A long note's row holds one vector per chunk, back to back.
    counts = np.fromiter((len(blob) // (4 * embedder.dimensions) for blob in blobs), dtype=np.int64, count=len(blobs))
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, embedder.dimensions)
    starts = None if int(counts.max()) == 1 else np.concatenate(([0], np.cumsum(counts)[:-1]))
    return _Matrix(version, ids, vectors, starts)


def _index_state(*, user, model: str) -> tuple[int, int, object]:
    """(notes, notes with a `model` vector, newest vector write) in one query.

    Three scalar subqueries, so each is answered from its own index (a combined
    COUNT+MAX aggregate scans the rows instead: 10x slower at 10,000 notes).
    Any vector written or deleted changes the count or the newest timestamp,
    which is the version the in-process matrix is checked against.
    """
    note_table = connection.ops.quote_name(Note._meta.db_table)
    vector_table = connection.ops.quote_name(NoteEmbedding._meta.db_table)
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {note_table} WHERE user_id = %s),"
        f" (SELECT COUNT(*) FROM {vector_table} WHERE user_id = %s AND model = %s),"
        f" (SELECT MAX(updated_at) FROM {vector_table} WHERE user_id = %s AND model = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, user.pk, model, user.pk, model])
        notes, indexed, latest = cursor.fetchone()
    return notes, indexed, latest


def note_semantic_ranking(
    *, user, query: str, limit: int, also: list[int] | None = None, query_vector: np.ndarray | None = None
) -> dict:
    """The user's notes ranked by their best chunk's cosine similarity to `query`.

    Returns `{"ranked": [(note_id, score, best chunk index), ...], "model", "unindexed", "also"}`;
    notes without a vector from the active model are counted in `unindexed`, not ranked.
    `also` asks for the scores of those notes too (hybrid search's keyword candidates):
    `"also"` holds the ones outside the top `limit` that have a vector, same shape.
    `query_vector` is the query already encoded by the active embedder (hybrid
    search encodes it while the keyword ranking runs).
    """
    embedder = get_embedder()
    model = embedder.model_name
    notes, indexed, latest = _index_state(user=user, model=model)
    unindexed = notes - indexed
    if not indexed:
        return {"ranked": [], "model": model, "unindexed": unindexed, "also": []}
    key = (user.pk, model)
    version = (indexed, latest)
    matrix = vector_cache.get(key, version)
    if matrix is None:
        matrix = _load_matrix(user=user, embedder=embedder, version=version)
        vector_cache.put(key, matrix)

    if query_vector is None:
        query_vector = embedder.encode([query])[0]
    scores, chunk_scores = matrix.note_scores(query_vector)
    k = min(limit, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    ranked = [(int(matrix.note_ids[i]), float(scores[i]), matrix.best_chunk(i, chunk_scores)) for i in top]
    extra = []
    if also:
        wanted = np.isin(matrix.note_ids, np.asarray(also, dtype=matrix.note_ids.dtype))
        wanted[top] = False
        extra = [
            (int(matrix.note_ids[i]), float(scores[i]), matrix.best_chunk(i, chunk_scores))
            for i in np.flatnonzero(wanted)
        ]
    return {"ranked": ranked, "model": model, "unindexed": unindexed, "also": extra}


def note_search(*, user, query: str, limit: int = 10) -> dict:
    """The user's notes ranked by meaning (vectors are normalized, a note scores as its best chunk).

    Returns `{"results": [...], "model": ..., "unindexed": N}`; each result's
    snippet starts at the note's best chunk.
    """
    ranking = note_semantic_ranking(user=user, query=query, limit=limit)
    ranked = ranking["ranked"]
    rows = Note.objects.filter(user=user, pk__in=[note_id for note_id, _, _ in ranked]).values_list(
        "id", "title", "content"
    )
    notes = {note_id: (title, content) for note_id, title, content in rows}
    results = []
    for note_id, score, chunk in ranked:
        if note_id not in notes:
            continue  # deleted since the state query
        title, content = notes[note_id]
        start = 0
        if chunk:
            spans = chunk_spans(note_embedding_text(title=title, content=content))
            start = content_offset(title=title, offset=spans[min(chunk, len(spans) - 1)][0])
        results.append(
            {
                "note_id": note_id,
                "title": title,
                "snippet": content[start : start + SNIPPET_CHARS],
                "score": round(score, 4),
            }
        )
    return {"results": results, "model": ranking["model"], "unindexed": ranking["unindexed"]}
