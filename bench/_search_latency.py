"""Search latency rows of bench/search_quality.py: hybrid search at 10,000 and 100,000 notes."""

from __future__ import annotations

import sys
import time

from bench._search_eval import note_text


def fill_notes(user, docs: list[dict], n: int) -> None:
    """n notes of real text (abstracts cycled) with one random unit vector each, in bulk."""
    import numpy as np
    from django.utils import timezone

    from notes.models import Note
    from semantic.embedders import get_embedder
    from semantic.models import NoteEmbedding

    embedder = get_embedder()
    rng = np.random.default_rng(n)
    batch = 5000
    for start in range(0, n, batch):
        size = min(batch, n - start)
        notes = Note.objects.bulk_create(
            Note(user=user, title=note_text(docs[i % len(docs)])[0], content=docs[i % len(docs)]["text"])
            for i in range(start, start + size)
        )
        vectors = rng.standard_normal((size, embedder.dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        now = timezone.now()
        NoteEmbedding.objects.bulk_create(
            NoteEmbedding(
                note_id=note.pk, user=user, model=embedder.model_name, dimensions=embedder.dimensions,
                vector=vectors[i].tobytes(), text_hash="bench", updated_at=now,
            )
            for i, note in enumerate(notes)
        )  # fmt: skip


def latency_rows(docs, queries, quick: bool) -> list[dict]:
    """Hybrid search p50 / p95 at 10,000 and 100,000 notes of one user, then the 10,000-note user's
    again with the other user's 100,000 notes in the same tables (what a user meets on a shared
    database); each against the query encode alone, measured in the same loop."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench._setup import percentile, settle_after_bulk_load, time_alternating
    from semantic.embedders import get_embedder
    from semantic.selectors import vector_cache

    embedder = get_embedder()
    texts = [q["text"] for q in queries]

    def measure(user) -> tuple[float, float, float]:
        client = APIClient()
        client.force_authenticate(user)
        vector_cache.clear()
        assert client.get("/semantic/search", {"q": "warm up"}).status_code == 200

        def search_once(text: str) -> None:
            response = client.get("/semantic/search", {"q": text, "limit": 10})
            assert response.status_code == 200, response.content

        encode, search = time_alternating(
            texts * (1 if quick else 2), lambda text: embedder.encode([text]), search_once
        )
        return percentile(encode, 0.5), percentile(search, 0.5), percentile(search, 0.95)

    def row(label: str, measured, target: str) -> dict:
        enc50, p50, p95 = measured
        return {
            "benchmark": f"search: hybrid GET /semantic/search p50 / p95, {label} (synthetic vectors), full HTTP stack",
            "figure": f"{p50 * 1000:.1f} / {p95 * 1000:.1f} ms",
            "baseline": f"query encode p50 {enc50 * 1000:.1f} ms",
            "ratio": round(p50 / enc50, 2),
            "target": target,
        }

    rows, users = [], []
    sizes = (2_000,) if quick else (10_000, 100_000)
    for n in sizes:
        user = get_user_model().objects.create_user(username=f"bench-latency-{n}", password="x")
        users.append(user)
        started = time.perf_counter()
        fill_notes(user, docs, n)
        settle_after_bulk_load()
        print(f"filled {n:,} notes in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        rows.append(row(f"{n:,} notes of one user", measure(user), "≤ 2.5 (p50)" if n == 10_000 else "report"))
        if n != 10_000:
            cached = sum(item.nbytes for item in vector_cache._items.values())
            rows.append(
                {
                    "benchmark": f"search: memory of one cached user, {n:,} notes (vector matrix)",
                    "figure": f"{cached / 2**20:.1f} MiB",
                    "baseline": "",
                    "ratio": "",
                    "target": "report",
                }
            )
    if len(users) > 1:
        label = f"{sizes[0]:,} notes of one user among {sum(sizes):,} of two users"
        rows.append(row(label, measure(users[0]), "report"))
    get_user_model().objects.filter(pk__in=[user.pk for user in users]).delete()
    vector_cache.clear()
    return rows
