"""Parameter search for bench/search_quality.py, on the tuning half of the claims only.

Prints semantic nDCG@10 per chunk size (each re-embeds the abstracts), then
`fusion_grid`: hybrid nDCG@10 over RRF k, candidate depth, weights and
strict-first, fused offline from rankings fetched once (every `make bench` run
writes that grid to var/ too). The held-out half is printed for the chosen row
only, after the choice. `python -m bench.search_quality --tune`
"""

from __future__ import annotations

import itertools
import os
import sys

from bench._search_eval import ROOT, ndcg_at_10


def tune() -> None:
    from bench._search_eval import evaluate, load_eval, load_notes, split
    from bench._setup import setup_django

    os.environ.setdefault("SEMANTIC_EMBEDDER", "minilm")
    os.environ["SEMANTIC_AUTO_EMBED"] = "0"
    docs, queries = load_eval()
    halves = split(queries)
    tuning = halves["tuning"]
    drop, where = setup_django("bench_search_tune")
    try:
        from django.contrib.auth import get_user_model

        from semantic import chunking
        from semantic.selectors import vector_cache
        from semantic.services import note_embeddings_regenerate

        print(where, file=sys.stderr)
        user = get_user_model().objects.create_user(username="tune", password="x")
        note_to_doc = load_notes(user, docs)
        chunk_grid = [(100, 20), (150, 30), (200, 40), (100_000, 0)]
        best_chunks, best_score = None, -1.0
        for words, overlap in chunk_grid:
            chunking.CHUNK_WORDS, chunking.CHUNK_OVERLAP = words, overlap
            note_embeddings_regenerate(user=user)
            vector_cache.clear()
            score = evaluate(user, tuning, note_to_doc, "semantic")[0]
            print(f"chunks {words}/{overlap}: semantic nDCG@10 {score:.4f}", flush=True)
            if score > best_score:
                best_chunks, best_score = (words, overlap), score
        chunking.CHUNK_WORDS, chunking.CHUNK_OVERLAP = best_chunks
        note_embeddings_regenerate(user=user)
        vector_cache.clear()
        print(f"chosen chunks {best_chunks}", flush=True)

        fusion_grid(user, halves, note_to_doc)
    finally:
        drop()


def fusion_grid(user, halves: dict[str, list[dict]], note_to_doc: dict[int, str]) -> None:
    """Print hybrid nDCG@10 over RRF k, depth, keyword weight and strict-first on the tuning half.

    Rankings are fetched once per claim and fused offline. The best row's
    held-out figure is printed after the choice is made, never used for it.
    """
    from notes.search import keyword_query_parse, note_keyword_ranking
    from semantic import hybrid
    from semantic.selectors import note_semantic_ranking

    def fetch(half):
        out = []
        for q in half:
            query = keyword_query_parse(q["text"])
            relaxed = note_keyword_ranking(user=user, query=query, limit=200, relaxed=True)
            strict = {i for i, _ in note_keyword_ranking(user=user, query=query, limit=200)}
            semantic = [(i, s) for i, s, _ in note_semantic_ranking(user=user, query=q["text"], limit=200)["ranked"]]
            short = query.size <= hybrid.STRICT_FIRST_MAX_UNITS
            out.append((set(q["relevant"]), relaxed, strict if short else set(), semantic))
        return out

    def score(fetched, k, depth, weight, strict_first):
        """RRF with (k, depth, weight, strict-first); k=None is the shipped convex combination, except that
        keyword candidates outside the semantic top `depth` score the bottom there rather than their real
        cosine (as semantic.hybrid gives them): a lower figure than the nDCG rows' hybrid."""
        total = 0.0
        for relevant, relaxed, strict, semantic in fetched:
            if k is None:
                fused = hybrid.convex_fuse(relaxed[:depth], semantic[:depth], weight=weight)
            else:
                ids = [i for i, _ in relaxed[:depth]], [i for i, _ in semantic[:depth]]
                fused = hybrid.rrf_fuse([(ids[0], weight), (ids[1], 1.0)], k=k)
            if strict_first:
                fused = sorted(fused, key=lambda item: item[0] not in strict)
            total += ndcg_at_10([note_to_doc.get(i, "") for i, _ in fused[:10]], relevant)
        return total / len(fetched)

    lines = []

    def say(line: str) -> None:
        print(line, file=sys.stderr)
        lines.append(line)

    tuning = fetch(halves["tuning"])
    grid = itertools.product((5, 10, 20, 40, 60, 100), (20, 50, 100, 200), (0.5, 0.75, 1.0, 1.5, 2.0), (True, False))
    results = sorted(((score(tuning, *params), params) for params in grid), reverse=True)
    shipped = (None, hybrid.CANDIDATES, hybrid.KEYWORD_WEIGHT, True)
    say("RRF grid on the tuning half (k, depth, keyword weight, strict-first for short queries):")
    for value, params in results[:12]:
        say(f"  {value:.4f} {params}")
    say(f"  convex combination {shipped[1:]}, without real cosines: {score(tuning, *shipped):.4f}")
    held = fetch(halves["held-out"])
    best = results[0][1]
    say(f"held-out: best-on-tuning {best} {score(held, *best):.4f}; convex {score(held, *shipped):.4f}")
    # make bench shows a module's stderr only when it fails: keep the grid in var/.
    (ROOT / "var").mkdir(exist_ok=True)
    from django.db import connection

    (ROOT / "var" / f"search-fusion-grid-{connection.vendor}.txt").write_text("\n".join(lines) + "\n")
