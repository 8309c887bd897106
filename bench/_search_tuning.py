"""Parameter search for bench/search_quality.py, on the tuning half of the claims only.

Prints semantic nDCG@10 per chunk size (each re-embeds the abstracts), then
hybrid nDCG@10 over RRF k, candidate depth, weights and strict-first, fused
offline from rankings fetched once. The held-out half is printed for the chosen
row only, after the choice. `python -m bench.search_quality --tune`
"""

from __future__ import annotations

import itertools
import os
import sys


def tune() -> None:
    from bench._setup import setup_django
    from bench.search_quality import evaluate, load_eval, load_notes, ndcg_at_10, split

    os.environ.setdefault("SEMANTIC_EMBEDDER", "minilm")
    os.environ["SEMANTIC_AUTO_EMBED"] = "0"
    docs, queries = load_eval()
    halves = split(queries)
    tuning = halves["tuning"]
    drop, where = setup_django("bench_search_tune")
    try:
        from django.contrib.auth import get_user_model

        from notes.search import keyword_query_parse, note_keyword_ranking
        from semantic import chunking, hybrid
        from semantic.selectors import note_semantic_ranking, vector_cache
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

        def fetch(half):
            out = []
            for q in half:
                query = keyword_query_parse(q["text"])
                relaxed = [i for i, _ in note_keyword_ranking(user=user, query=query, limit=200, relaxed=True)]
                strict = {i for i, _ in note_keyword_ranking(user=user, query=query, limit=200)}
                semantic = [i for i, _, _ in note_semantic_ranking(user=user, query=q["text"], limit=200)["ranked"]]
                out.append((q, relaxed, strict, semantic))
            return out

        def score(fetched, k, depth, weight, strict_first):
            total = 0.0
            for q, relaxed, strict, semantic in fetched:
                fused = hybrid.rrf_fuse([(relaxed[:depth], weight), (semantic[:depth], 1.0)], k=k)
                if strict_first:
                    fused = sorted(fused, key=lambda item: item[0] not in strict)
                ranked = [note_to_doc[i] for i, _ in fused[:10]]
                total += ndcg_at_10(ranked, set(q["relevant"]))
            return total / len(fetched)

        fetched = fetch(tuning)
        keyword_only = sum(
            ndcg_at_10([note_to_doc[i] for i in r[:10]], set(q["relevant"])) for q, r, _, _ in fetched
        ) / len(fetched)
        print(f"keyword nDCG@10 (relaxed) {keyword_only:.4f}")
        grid = itertools.product((5, 10, 20, 30, 60, 100), (20, 50, 100, 200), (0.5, 0.75, 1.0, 1.5), (True, False))
        results = sorted(((score(fetched, *p), p) for p in grid), reverse=True)
        for value, params in results[:15]:
            print(f"hybrid {value:.4f}  k={params[0]} depth={params[1]} keyword_weight={params[2]} strict={params[3]}")
        base = score(fetched, 60, 100, 1.0, True)
        print(f"hybrid at the defaults (k=60, depth=100, weight=1, strict) {base:.4f}")
        chosen = results[0][1]
        held = fetch(halves["held-out"])
        print(f"held-out, chosen {chosen}: {score(held, *chosen):.4f}; defaults: {score(held, 60, 100, 1.0, True):.4f}")
    finally:
        drop()
