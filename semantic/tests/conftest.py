"""Fixtures for the semantic tests: the hashing embedder by default, MiniLM on request."""

import pytest

from notes.models import Note
from semantic.embedders import get_embedder
from semantic.selectors import vector_cache


@pytest.fixture(autouse=True)
def hashing_embedder(settings):
    """Fast, dependency-free vectors unless a test asks for `minilm`."""
    settings.SEMANTIC_EMBEDDER = "hashing"
    settings.SEMANTIC_MODEL_PATH = ""
    vector_cache.clear()
    yield
    vector_cache.clear()


@pytest.fixture
def minilm(settings):
    """The real all-MiniLM-L6-v2; `get_embedder` caches it, so it loads once per session."""
    settings.SEMANTIC_EMBEDDER = "minilm"
    embedder = get_embedder()
    embedder.load()
    return embedder


@pytest.fixture
def make_notes():
    """Create notes directly (no background scheduling): `make_notes(user, ["title: body", ...])`."""

    def make(user, texts):
        notes = []
        for text in texts:
            title, _, content = text.partition(": ")
            notes.append(Note(user=user, title=title, content=content))
        Note.objects.bulk_create(notes)
        return list(Note.objects.filter(user=user).order_by("id"))

    return make
