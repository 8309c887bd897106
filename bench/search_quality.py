"""Search quality, latency and write cost, each against a baseline measured in the same run.

* Quality: the SciFact subset in `../shared/data/search-eval/` (or SEARCH_EVAL_DIR)
  loaded as one user's notes through `note_create` and embedded by
  `note_embeddings_regenerate` (the services the API and the worker use);
  nDCG@10 and recall@10 of each claim through `note_hybrid_search` in keyword,
  semantic and hybrid modes. Claims are split by id parity: even ids are the
  tuning half (every parameter was chosen on it: `--tune` prints the grid),
  odd ids the held-out half, reported beside it. Targets: hybrid ≥ 1.03 × the
  better single mode; semantic ≥ 0.99 × the bare model (`model.encode` of each
  whole note, cosine, top 10) on the same notes.
* Exact tokens: 32 notes holding rare codes, names and numbers among the
  abstracts, each token queried verbatim: recall@1 per mode (target 1.0 for
  keyword and hybrid).
* Latency (bench/_search_latency.py): GET /semantic/search (full HTTP stack,
  hybrid) for a user with 10,000 and 100,000 notes of real text (the abstracts,
  cycled) with synthetic vectors (random unit vectors, one per note: the model
  would take hours), then the 10,000-note user's again with the other user's
  notes in the same tables, against the real model's query encode time; memory
  of the user's cached matrix.
* Writes (bench/_search_writes.py): POST /notes and PATCH /notes/{id} p50 through the whole HTTP stack
  (what a user waits for; the target) and the bare `note_create` / `note_update`
  services (the index's own cost; report), with the keyword index against the
  same writes on the table migrated back to before the index (notes 0001), in
  alternating rounds. That is the only difference between the two arms: the
  generated tsvector and its GIN entries on PostgreSQL, the FTS5 triggers on SQLite.

`python -m bench search_quality [--quick]` (stderr also prints an RRF grid on the
tuning half beside the shipped fusion); `python -m bench._search_fusion` re-ranks
offline in seconds from vectors cached in var/; `python -m bench.search_quality --tune`
adds the chunk-size grid (slow: one embedding of the abstracts per size);
`python -m bench.search_quality --no-latency` skips the 10,000 / 100,000-note latency rows.
"""

from __future__ import annotations

import os
import sys
import time

from bench._search_eval import (
    MODES,
    evaluate,
    load_eval,
    load_notes,
    ndcg_at_10,
    note_text,
    recall_at_10,
    split,
)

# Rare tokens typed verbatim, each in a note of ordinary prose.
EXACT = [
    ("INV-2024-0042", "Paid invoice {t} to the printer for the spring catalogue."),
    ("PO-77812-B", "Purchase order {t} covers the replacement laptops."),
    ("JIRA-48213", "Ticket {t}: login page times out behind the proxy."),
    ("SKU 4471-XQ", "Reorder {t} before the holidays, stock is low."),
    ("KX-88-TQ", "The rental car plate is {t}, parked on level three."),
    ("v3.14.159", "Release {t} fixes the rounding error in reports."),
    ("A7F3-99K2", "Order #{t} shipped on Tuesday with the courier."),
    ("DE89370400440532013000", "Transfer the deposit to IBAN {t} by Friday."),
    ("+44 20 7946 0958", "Call the London office on {t} after lunch."),
    ("Oluwaseun Adebayo-Fairweather", "Lunch with {t} to talk about the new contract."),
    ("Maximilian Szczepański", "{t} sends the quarterly numbers on Mondays."),
    ("Xiomara Quintanilla", "Ask {t} about the venue for the workshop."),
    ("Thorvaldur Eggertsson", "{t} recommended a plumber for the kitchen."),
    ("Priyamvada Raghunathan", "Dinner at {t}'s place next Saturday."),
    ("Zbigniew Wróblewski", "Birthday card for {t}, he turns sixty."),
    ("Aurelio Benvenuti", "{t} lent me the book about Roman roads."),
    ("Kwabena Owusu-Ansah", "Interview {t} for the backend role."),
    ("Siobhán Ní Bhraonáin", "{t} will cover my shift on Thursday."),
    ("Hjördis Lindqvist", "Send {t} the slides from the conference."),
    ("Bartholomew Quackenbush", "{t} is the landlord's new agent."),
    ("ZX-Spectrum-48K", "Found my old {t} in the attic, it still boots."),
    ("CVE-2021-44228", "Patch the logging library against {t} today."),
    ("RFC 9110", "Reread {t} on conditional requests before the review."),
    ("ISO 8601", "Dates in the export must follow {t}."),
    ("SN 8C-3319-7720", "The boiler's serial number is {t}, for the warranty."),
    ("gate B47", "Flight leaves from {t}, boarding at 6:40."),
    ("room 4.117", "The seminar moved to {t} on the fourth floor."),
    ("locker 3391", "Gym bag is in {t}, code on the fridge."),
    ("policy 55-0192-PL", "Home insurance {t} renews in March."),
    ("tracking 1Z999AA10123456784", "Parcel {t} is held at the depot."),
    ("Wi-Fi QuokkaNest_5G", "The cabin's network is {t}, password on the door."),
    ("pH 7.35", "Keep the aquarium at {t}, test every week."),
]


def bare_model(docs: list[dict], halves: dict[str, list[dict]]) -> dict[str, tuple[float, float]]:
    """`model.encode` of each whole note (the model truncates it) and cosine: no plumbing at all."""
    from semantic.embedders import get_embedder
    from semantic.selectors import note_embedding_text

    model = get_embedder()._model
    texts = [note_embedding_text(title=t, content=c) for t, c in map(note_text, docs)]
    kw = {"batch_size": 64, "convert_to_numpy": True, "normalize_embeddings": True, "show_progress_bar": False}
    matrix = model.encode(texts, **kw)
    out = {}
    for name, queries in halves.items():
        vectors = model.encode([q["text"] for q in queries], **kw)
        ndcg = recall = 0.0
        for q, vector in zip(queries, vectors, strict=True):
            top = (matrix @ vector).argsort()[::-1][:10]
            ranked = [docs[i]["id"] for i in top]
            ndcg += ndcg_at_10(ranked, set(q["relevant"]))
            recall += recall_at_10(ranked, set(q["relevant"]))
        out[name] = (ndcg / len(queries), recall / len(queries))
    return out


def _quality(user, docs, queries) -> list[dict]:
    from semantic.services import note_embeddings_regenerate

    halves = split(queries)
    note_to_doc = load_notes(user, docs)
    started = time.perf_counter()
    result = note_embeddings_regenerate(user=user)
    print(
        f"embedded {result['embeddings_generated']} notes as {result['chunks_embedded']} chunks "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    bare = bare_model(docs, halves)
    from bench._search_tuning import fusion_grid

    fusion_grid(user, halves, note_to_doc)
    measured = {
        name: {mode: evaluate(user, half, note_to_doc, mode) for mode in MODES} for name, half in halves.items()
    }
    # The eval set is all the claims: the target applies to it (the issue; the set's README keeps its own
    # held-out claims to check that the choices generalize). The halves are its two parts, each reported:
    # every choice was made on the tuning half, the held-out half shows whether it carried over.
    sizes = {name: len(half) for name, half in halves.items()}
    overall = {mode: _over_all({name: measured[name][mode] for name in halves}, sizes) for mode in MODES}
    sets = {"all": (queries, overall, _over_all(bare, sizes))}
    sets |= {name: (halves[name], measured[name], bare[name]) for name in halves}
    rows = []
    for name, (claims, scores, bare_scores) in sets.items():
        best = max(("keyword", "semantic"), key=lambda m: scores[m][0])
        figure = ", ".join(f"{mode} {scores[mode][0]:.3f}" for mode in MODES)
        recalls = ", ".join(f"{mode} {scores[mode][1]:.3f}" for mode in MODES)
        part = "the eval set" if name == "all" else f"{name} half"
        label = f"{part}, {len(claims)} claims, {len(docs):,} abstracts"
        rows += [
            {
                "benchmark": f"search: nDCG@10, {label}",
                "figure": figure,
                "baseline": f"better single mode: {best} {scores[best][0]:.3f}",
                # Four places: the target sits at 1.03 and three would round 1.0296 up to it.
                "ratio": round(scores["hybrid"][0] / scores[best][0], 4),
                "target": "≥ 1.03 (hybrid / better)" if name == "all" else "report (≥ 1.03 shows it generalizes)",
            },
            {
                "benchmark": f"search: recall@10, {label}",
                "figure": recalls,
                "baseline": f"bare model {bare_scores[1]:.3f}",
                "ratio": "",
                "target": "report",
            },
            {
                "benchmark": f"search: semantic mode through the services vs bare model.encode, nDCG@10, {part}",
                "figure": f"{scores['semantic'][0]:.3f}",
                "baseline": f"bare model {bare_scores[0]:.3f}",
                "ratio": round(scores["semantic"][0] / bare_scores[0], 3),
                "target": "≥ 0.99",
            },
        ]
    return rows, note_to_doc


def _over_all(per_half: dict[str, tuple[float, float]], sizes: dict[str, int]) -> tuple[float, float]:
    """(nDCG, recall) over all the claims from the halves' means, each half weighed by its claims."""
    total = sum(sizes.values())
    return tuple(sum(per_half[name][i] * sizes[name] for name in sizes) / total for i in (0, 1))


def _exact(user) -> list[dict]:
    from notes.services import note_create
    from semantic.hybrid import note_hybrid_search
    from semantic.services import note_embeddings_regenerate

    ids = {token: note_create(user=user, title=text.format(t=token)[:40], content=text.format(t=token)).pk
           for token, text in EXACT}  # fmt: skip
    note_embeddings_regenerate(user=user, only_stale=True)
    hits = {mode: 0 for mode in MODES}
    for token, note_id in ids.items():
        for mode in MODES:
            found = note_hybrid_search(user=user, query=token, limit=1, mode=mode)["results"]
            hits[mode] += bool(found) and found[0]["note_id"] == note_id
    return [
        {
            "benchmark": f"search: exact tokens queried verbatim, recall@1 ({len(EXACT)} notes among the abstracts)",
            "figure": f"keyword {hits['keyword'] / len(EXACT):.2f}, hybrid {hits['hybrid'] / len(EXACT):.2f}",
            "baseline": f"semantic {hits['semantic'] / len(EXACT):.2f}",
            "ratio": "",
            "target": "1.0 (keyword, hybrid)",
        }
    ]


def run(quick: bool = False, latency: bool = True) -> list[dict]:
    from bench._setup import require_disposable_redis, setup_django

    os.environ.setdefault("SEMANTIC_EMBEDDER", "minilm")
    # Notes are loaded and embedded by the services directly; no background jobs.
    os.environ["SEMANTIC_AUTO_EMBED"] = "0"
    docs, queries = load_eval()
    drop, where = setup_django("bench_search")
    try:
        import django_rq
        from django.contrib.auth import get_user_model
        from django.db import connection

        from bench._search_latency import latency_rows
        from bench._search_writes import write_rows
        from common import queues

        require_disposable_redis(django_rq.get_connection(queues.SYSTEM))
        print(f"bench.search_quality: {where}", file=sys.stderr)
        if quick:
            docs = docs[:150]
            relevant = {d["id"] for d in docs}
            queries = [q for q in queries if set(q["relevant"]) <= relevant] or queries[:10]
        user = get_user_model().objects.create_user(username="bench-quality", password="x")
        rows, _ = _quality(user, docs, queries)
        rows += _exact(user)
        rows += write_rows(quick)
        if latency:
            rows += latency_rows(docs, queries, quick)
        for row in rows:
            row["benchmark"] = f"{row['benchmark']} [{connection.vendor}]"
        return rows
    finally:
        drop()


if __name__ == "__main__":
    if "--tune" in sys.argv:
        from bench._search_tuning import tune

        tune()
    else:
        from bench.__main__ import table

        print(table(run(quick="--quick" in sys.argv, latency="--no-latency" not in sys.argv)))
