"""Fusion experiments for hybrid search in seconds: cached vectors and keyword rankings, fused offline.

`python -m bench._search_fusion` (DATABASE_URL picks the database, as in `make bench`).
The chunk vectors of the abstracts and the claims' vectors are computed once with the
active model and cached under var/ (keyed by model name and chunk sizes); each
database's keyword rankings (bm25) per claim are fetched once and cached under var/ too.
Every fusion is then scored on the tuning half; the held-out half is
printed beside the best rows only, never used to choose.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys

import numpy as np

from bench._search_eval import ROOT, load_eval, ndcg_at_10, note_text, split

VAR = ROOT / "var"
DEPTH = 200


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def cached_vectors(docs, queries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chunk vectors, first row of each doc, claim vectors), from var/ or computed once."""
    from semantic import chunking
    from semantic.embedders import get_embedder
    from semantic.selectors import note_embedding_text

    embedder = get_embedder()
    path = VAR / (
        f"search-eval-vectors-{_slug(embedder.model_name)}-{chunking.CHUNK_WORDS}-{chunking.CHUNK_OVERLAP}.npz"
    )
    if path.exists():
        data = np.load(path)
        if len(data["starts"]) == len(docs) and len(data["claims"]) == len(queries):
            return data["chunks"], data["starts"], data["claims"]
    pieces = [chunking.chunk_text(note_embedding_text(title=t, content=c)) for t, c in map(note_text, docs)]
    flat = [p for group in pieces for p in group]
    chunks = np.concatenate([embedder.encode(flat[i : i + 256]) for i in range(0, len(flat), 256)])
    starts = np.concatenate(([0], np.cumsum([len(group) for group in pieces])[:-1])).astype(np.int64)
    claims = embedder.encode([q["text"] for q in queries])
    VAR.mkdir(exist_ok=True)
    np.savez(path, chunks=chunks, starts=starts, claims=claims)
    return chunks, starts, claims


def cached_keyword(docs, queries) -> dict[str, dict[str, dict]]:
    """{rank name: {claim id: {"relaxed": [[doc id, score], ...], "strict": [doc id, ...]}}} for this database."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bench._search_eval import load_notes
    from notes import search

    path = VAR / f"search-eval-keyword-{connection.vendor}.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    if "bm25" in cache:
        return cache
    user = get_user_model().objects.create_user(username="fusion", password="x")
    note_to_doc = load_notes(user, docs)
    per_claim = {}
    for q in queries:
        query = search.keyword_query_parse(q["text"])
        relaxed = search.note_keyword_ranking(user=user, query=query, limit=DEPTH, relaxed=True)
        strict = search.note_keyword_ranking(user=user, query=query, limit=DEPTH)
        per_claim[str(q["id"])] = {
            "relaxed": [[note_to_doc[i], s] for i, s in relaxed],
            "strict": [note_to_doc[i] for i, _ in strict] if query.size <= 4 else [],
        }
    cache = {"bm25": per_claim}
    VAR.mkdir(exist_ok=True)
    path.write_text(json.dumps(cache))
    return cache


def _normalize(scores: dict[str, float], how: str) -> dict[str, float]:
    if not scores:
        return {}
    values = np.array(list(scores.values()))
    if how == "minmax":
        low, span = values.min(), values.max() - values.min()
        return {d: (s - low) / span if span else 1.0 for d, s in scores.items()}
    if how == "zscore":
        mean, std = values.mean(), values.std()
        return {d: (s - mean) / std if std else 0.0 for d, s in scores.items()}
    top = values.max()  # "max": keyword scores are >= 0
    return {d: s / top if top else 0.0 for d, s in scores.items()}


def fuse(method, params, keyword, semantic, strict, cosines=None) -> list[str]:
    """Doc ids best first. keyword / semantic: [(doc id, score)] best first.

    With `params["fill"]`, keyword candidates outside the semantic top `depth` get
    their real cosine from `cosines` (doc id → cosine), as semantic.hybrid does.
    """
    depth = params["depth"]
    keyword, semantic = keyword[:depth], semantic[:depth]
    if params.get("fill"):
        known = {doc for doc, _ in semantic}
        semantic = semantic + [(doc, cosines[doc]) for doc, _ in keyword if doc not in known]
    if method == "rrf":
        scores: dict[str, float] = {}
        for ranking, weight in ((keyword, params["w"]), (semantic, 1.0)):
            for rank, (doc, _) in enumerate(ranking, start=1):
                scores[doc] = scores.get(doc, 0.0) + weight / (params["k"] + rank)
    else:
        kw = _normalize(dict(keyword), params["kw_norm"])
        sem = _normalize(dict(semantic), params["sem_norm"])
        kw_floor = min(kw.values(), default=0.0) if params["kw_norm"] == "zscore" else 0.0
        sem_floor = min(sem.values(), default=0.0)
        scores = {doc: sem.get(doc, sem_floor) + params["alpha"] * kw.get(doc, kw_floor) for doc in set(kw) | set(sem)}
    ordered = sorted(scores, key=lambda doc: (-scores[doc], doc))
    if strict:
        ordered = sorted(ordered, key=lambda doc: doc not in strict)
    return ordered[:10]


def main() -> None:
    from bench._setup import setup_django

    os.environ.setdefault("SEMANTIC_EMBEDDER", "minilm")
    os.environ["SEMANTIC_AUTO_EMBED"] = "0"
    docs, queries = load_eval()
    halves = split(queries)
    drop, where = setup_django("bench_fusion")
    try:
        from django.db import connection

        print(where, file=sys.stderr)
        chunks, starts, claims = cached_vectors(docs, queries)
        keyword_by_rank = cached_keyword(docs, queries)
        vendor = connection.vendor
    finally:
        drop()
    doc_ids = [d["id"] for d in docs]
    semantic, cosines = {}, {}
    for q, vector in zip(queries, claims, strict=True):
        per_doc = np.maximum.reduceat(chunks @ vector, starts)
        top = np.argsort(-per_doc, kind="stable")[:DEPTH]
        semantic[str(q["id"])] = [(doc_ids[i], float(per_doc[i])) for i in top]
        cosines[str(q["id"])] = dict(zip(doc_ids, per_doc.tolist(), strict=True))

    def score(half, rank, method, params):
        total = 0.0
        for q in half:
            qid = str(q["id"])
            kw = [tuple(x) for x in keyword_by_rank[rank][qid]["relaxed"]]
            strict = set(keyword_by_rank[rank][qid]["strict"]) if params.get("strict") else set()
            if method == "keyword":
                ranked = [d for d, _ in kw[:10]]
            elif method == "semantic":
                ranked = [d for d, _ in semantic[qid][:10]]
            else:
                ranked = fuse(method, params, kw, semantic[qid], strict, cosines[qid])
            total += ndcg_at_10(ranked, set(q["relevant"]))
        return total / len(half)

    rows = []
    for rank in keyword_by_rank:
        base = {h: max(score(halves[h], rank, m, {}) for m in ("keyword", "semantic")) for h in halves}
        kw_only = {h: score(halves[h], rank, "keyword", {}) for h in halves}
        print(f"[{vendor}] {rank}: keyword {kw_only}, better single {base}")
        grid = [("rrf", {"k": k, "w": w, "depth": d, "strict": s})
                for k, w, d, s in itertools.product((5, 10, 20, 60), (0.25, 0.5, 0.75, 1.0), (20, 50, 100, 200),
                                                    (True, False))]  # fmt: skip
        convex = itertools.product((0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0), ("minmax", "zscore", "max"),
                                   ("minmax", "zscore"), (20, 50, 100, 200), (True, False), (True, False))  # fmt: skip
        grid += [("convex", {"alpha": a, "kw_norm": kn, "sem_norm": sn, "depth": d, "strict": s, "fill": f})
                 for a, kn, sn, d, s, f in convex]  # fmt: skip
        for method, params in grid:
            tuning = score(halves["tuning"], rank, method, params)
            rows.append((tuning / base["tuning"], rank, method, params, base))
    rows.sort(key=lambda row: -row[0])
    for ratio, rank, method, params, base in rows[:25]:
        held = score(halves["held-out"], rank, method, params) / base["held-out"]
        print(f"tuning x{ratio:.3f} held-out x{held:.3f}  {rank} {method} {params}")


if __name__ == "__main__":
    main()
