"""The search eval set and its measures, for bench.search_quality and its helpers (a leaf: imports none of them)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("keyword", "semantic", "hybrid")


def eval_dir() -> Path:
    return Path(os.environ.get("SEARCH_EVAL_DIR") or ROOT.parent / "shared" / "data" / "search-eval")


def load_eval() -> tuple[list[dict], list[dict]]:
    where = eval_dir()
    if not (where / "docs.jsonl").exists():
        raise SystemExit(f"search eval set not found in {where}; set SEARCH_EVAL_DIR")
    docs = [json.loads(line) for line in (where / "docs.jsonl").open()]
    queries = [json.loads(line) for line in (where / "queries.jsonl").open()]
    return docs, queries


def split(queries: list[dict]) -> dict[str, list[dict]]:
    """Tuning (even ids) and held-out (odd ids) halves: deterministic, chosen before any tuning."""
    return {
        "tuning": [q for q in queries if int(q["id"]) % 2 == 0],
        "held-out": [q for q in queries if int(q["id"]) % 2 == 1],
    }


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at_10(ranked: list[str], relevant: set[str]) -> float:
    return len(set(ranked[:10]) & relevant) / len(relevant) if relevant else 0.0


def note_text(doc: dict) -> tuple[str, str]:
    """The README's suggestion: title = first eight words, content = the text."""
    return " ".join(doc["text"].split()[:8]), doc["text"]


def load_notes(user, docs: list[dict]) -> dict[int, str]:
    """Each abstract as a note through the notes service; returns note id → doc id."""
    from notes.services import note_create

    out = {}
    for doc in docs:
        title, content = note_text(doc)
        out[note_create(user=user, title=title, content=content).pk] = doc["id"]
    return out


def evaluate(user, queries: list[dict], note_to_doc: dict[int, str], mode: str) -> tuple[float, float]:
    from semantic.hybrid import note_hybrid_search

    ndcg = recall = 0.0
    for q in queries:
        found = note_hybrid_search(user=user, query=q["text"], limit=10, mode=mode)["results"]
        ranked = [note_to_doc.get(r["note_id"], "") for r in found]
        ndcg += ndcg_at_10(ranked, set(q["relevant"]))
        recall += recall_at_10(ranked, set(q["relevant"]))
    return ndcg / len(queries), recall / len(queries)
