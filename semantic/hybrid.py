"""Search in three modes: by meaning, by keyword, or both fused (a convex combination of normalized scores).

Hybrid scores each candidate note (the CANDIDATES best of the keyword ranking,
`notes.search`, and of the semantic ranking, `semantic.selectors`) as
`semantic + KEYWORD_WEIGHT * keyword`, each normalized over the candidates
(`convex_fuse`). The weights and depths were chosen on the tuning half of the
evaluation claims (bench/_search_fusion.py), never on the held-out half.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from notes.models import Note
from notes.search import (
    KeywordQuery,
    KeywordQueryError,
    keyword_query_parse,
    note_keyword_matches,
    note_keyword_ranking,
)
from notes.snippets import snippet_around
from semantic.chunking import chunk_spans
from semantic.embedders import active_model_name, get_embedder
from semantic.selectors import content_offset, note_embedding_text, note_semantic_ranking

HYBRID, SEMANTIC, KEYWORD = "hybrid", "semantic", "keyword"
MODES = (HYBRID, SEMANTIC, KEYWORD)

# Why a convex combination and not reciprocal rank fusion: fusing normalized scores
# keeps how far apart the notes are, which ranks throw away (Bruch et al. 2022, "An
# Analysis of Fusion Functions for Hybrid Retrieval"). Each keyword candidate gets its
# real cosine (not the bottom of the semantic candidates), so a note that holds the
# query's rare words and is close in meaning, but just outside the semantic top
# CANDIDATES, is not penalized. Measured with bench/_search_fusion.py (keyword: BM25
# on both databases), nDCG@10 hybrid / better single mode, tuning | held-out half, the
# best of the grid's worse database on the tuning half:
#   convex, cosine min-max + 0.5 x BM25 / its max, real cosines, 150 candidates:
#       PostgreSQL 1.0298 | 1.053, SQLite 1.033 | 1.050
#   the same with 200 candidates: PostgreSQL 1.022 | 1.053, SQLite 1.033 | 1.050
# End to end (bench/search_quality.py) since PostgreSQL's BM25 pool is these 150 candidates:
# PostgreSQL 1.0298 | 1.0613, 1.0454 over all 101 claims (the eval set, the target's); SQLite 1.0409.
CANDIDATES = 150
KEYWORD_WEIGHT = 0.5
RRF_K = 60  # rrf_fuse is kept for comparison in the tuning bench
#: A short query (at most this many words and phrases) is a lookup: notes holding all of them
#: (as `GET /notes?search=` means it) rank first, fused order within each tier, so a code or a name
#: typed verbatim is never outvoted by meaning. Sentence-long queries are ranked by fusion alone:
#: putting their all-words matches first lost 0.02-0.04 nDCG@10 on the tuning half.
STRICT_FIRST_MAX_UNITS = 4


_query_encoder: tuple[int, ThreadPoolExecutor] | None = None


def query_encoder() -> ThreadPoolExecutor:
    """The threads that encode hybrid queries beside the request's thread, one pool per process.

    The model call and the database wait both release the GIL, so they overlap:
    hybrid p50 54.5 ms against 64.2 ms with the encode run inline first (GET
    /semantic/search, the 101 eval claims, 10,000 notes on PostgreSQL,
    alternating rounds, 606 searches each). Two threads, since each encode uses
    torch's own intra-op threads and more would only contend for the same
    cores. Per process: a forked child inherits
    the pool's bookkeeping but not its threads, and would wait forever on a
    pool that believes it has an idle thread.
    """
    global _query_encoder
    if _query_encoder is None or _query_encoder[0] != os.getpid():
        _query_encoder = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-encode"))
    return _query_encoder[1]


def _encode_query(query: str):
    return get_embedder().encode([query])[0]


def rrf_fuse(rankings: list[tuple[list[int], float]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of `(ids best first, weight)` rankings: `(id, score)` best first."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, note_id in enumerate(ids, start=1):
            scores[note_id] = scores.get(note_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def convex_fuse(
    keyword: list[tuple[int, float]], semantic: list[tuple[int, float]], *, weight: float = KEYWORD_WEIGHT
) -> list[tuple[int, float]]:
    """`(id, score)` best first: semantic min-max normalized + `weight` x keyword divided by its best.

    Both inputs are `(id, score)` best first, higher better. Keyword scores (BM25)
    are >= 0, so dividing by the best keeps 0 meaning "no keyword match". The
    semantic input should score every keyword candidate that has a vector; one
    missing from it (no vector yet) scores 0 there, the bottom of the candidates.
    Ties break by id, so the order is deterministic.
    """
    sem = dict(semantic)
    low, high = min(sem.values(), default=0.0), max(sem.values(), default=0.0)
    span = high - low
    top = max((score for _, score in keyword), default=0.0)
    scores = {note_id: ((score - low) / span if span else 1.0) for note_id, score in sem.items()}
    for note_id, score in keyword:
        scores[note_id] = scores.get(note_id, 0.0) + weight * (score / top if top > 0 else 0.0)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _keyword_query(query: str, mode: str) -> KeywordQuery | None:
    try:
        return keyword_query_parse(query)
    except KeywordQueryError:
        if mode == KEYWORD:
            raise
        return None  # hybrid: a query with no searchable word is ranked by meaning alone


def note_hybrid_search(*, user, query: str, limit: int = 10, mode: str = HYBRID, candidates: int | None = None) -> dict:
    """The user's notes for `query` in `mode`; each result says which signals matched it.

    Returns `{"results", "model", "unindexed", "mode"}`. A result's `matched`
    lists "keyword" when the note holds a query word or phrase and "semantic"
    when it is among the CANDIDATES nearest by meaning; `snippet` is cut around
    the densest match of the query's words (else the best chunk), `highlight` is
    the same text HTML-escaped with matched words in `<mark>`. `score` is the
    cosine (semantic), the keyword rank score (keyword) or the fused score
    (hybrid). Raises KeywordQueryError in keyword mode when the query has no
    word to look for.
    """
    depth = max(limit, candidates or CANDIDATES)
    keyword = _keyword_query(query, mode) if mode != SEMANTIC else None
    # Hybrid needs both rankings; the query's encode runs while the keyword ranking waits on the database.
    encoding = query_encoder().submit(_encode_query, query) if mode == HYBRID and keyword else None
    keyword_ranked = note_keyword_ranking(user=user, query=keyword, limit=depth, relaxed=True) if keyword else []
    model, unindexed, semantic_ranked = None, 0, []
    semantic_also = []
    if mode != KEYWORD:
        also = [note_id for note_id, _ in keyword_ranked] if mode == HYBRID else None
        vector = encoding.result() if encoding else None
        ranking = note_semantic_ranking(user=user, query=query, limit=depth, also=also, query_vector=vector)
        model, unindexed, semantic_ranked = ranking["model"], ranking["unindexed"], ranking["ranked"]
        semantic_also = ranking["also"]
    else:
        model = active_model_name()

    best_chunk = {note_id: chunk for note_id, _, chunk in semantic_ranked}
    keyword_ids = {note_id for note_id, _ in keyword_ranked}
    if mode == SEMANTIC:
        ranked = [(note_id, score) for note_id, score, _ in semantic_ranked]
    elif mode == KEYWORD:
        ranked = keyword_ranked
    else:
        scored = semantic_ranked + semantic_also
        ranked = convex_fuse(keyword_ranked, [(note_id, score) for note_id, score, _ in scored])
    if keyword and keyword_ranked and keyword.size <= STRICT_FIRST_MAX_UNITS:
        strict = note_keyword_matches(user=user, query=keyword, among=[note_id for note_id, _ in ranked])
        # sorted() is stable: within each tier the ranking's order stays.
        ranked = sorted(ranked, key=lambda item: item[0] not in strict)
    ranked = ranked[:limit]
    return {
        "results": _present(user=user, ranked=ranked, keyword=keyword, keyword_ids=keyword_ids, best_chunk=best_chunk),
        "model": model,
        "unindexed": unindexed,
        "mode": mode,
    }


def _present(*, user, ranked, keyword, keyword_ids, best_chunk) -> list[dict]:
    rows = Note.objects.filter(user=user, pk__in=[note_id for note_id, _ in ranked]).values_list(
        "id", "title", "content"
    )
    notes = {note_id: (title, content) for note_id, title, content in rows}
    words = keyword.words if keyword else []
    results = []
    for note_id, score in ranked:
        if note_id not in notes:
            continue  # deleted between the ranking and this read
        title, content = notes[note_id]
        start = 0
        if best_chunk.get(note_id):
            spans = chunk_spans(note_embedding_text(title=title, content=content))
            start = content_offset(title=title, offset=spans[min(best_chunk[note_id], len(spans) - 1)][0])
        in_keyword = note_id in keyword_ids
        snippet, highlight = snippet_around(content, words=words if in_keyword else [], start=start)
        results.append(
            {
                "note_id": note_id,
                "title": title,
                "snippet": snippet,
                "highlight": highlight,
                "score": round(score, 6),
                "matched": [
                    name for name, hit in (("keyword", in_keyword), ("semantic", note_id in best_chunk)) if hit
                ],
            }
        )
    return results
