"""Search by meaning: the API contract, per-user isolation, and the in-process vector cache."""

import pytest

from notes.models import Note
from semantic import selectors
from semantic.models import NoteEmbedding
from semantic.selectors import note_search
from semantic.services import note_embeddings_regenerate

pytestmark = pytest.mark.django_db


def test_search_returns_ranked_results_with_model_and_unindexed(auth_client, user, make_notes):
    make_notes(user, ["Garden: tomatoes and basil in the garden", "Car: oil change for the car", "Gym: leg day"])
    note_embeddings_regenerate(user=user)
    make_notes(user, ["Later: written after the last regenerate"])
    response = auth_client.get("/semantic/search", {"q": "garden tomatoes", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "hashing-384"
    assert body["unindexed"] == 1
    assert len(body["results"]) == 2
    top = body["results"][0]
    assert top["title"] == "Garden"
    assert top["snippet"] == "tomatoes and basil in the garden"
    assert {"note_id", "title", "snippet", "score"} <= set(top)  # the fields from before hybrid search
    assert body["mode"] == "hybrid" and top["matched"] == ["keyword", "semantic"]
    assert top["score"] >= body["results"][1]["score"]
    assert auth_client.get("/semantic/search/", {"q": "car"}).status_code == 200


def test_search_only_sees_the_callers_notes(auth_client, other_client, user, other_user, make_notes):
    make_notes(user, ["Mine: secret plans for the garden"])
    make_notes(other_user, ["Theirs: garden party guest list"])
    note_embeddings_regenerate(user=user)
    note_embeddings_regenerate(user=other_user)
    titles = [r["title"] for r in auth_client.get("/semantic/search", {"q": "garden"}).json()["results"]]
    assert titles == ["Mine"]
    titles = [r["title"] for r in other_client.get("/semantic/search", {"q": "garden"}).json()["results"]]
    assert titles == ["Theirs"]


def test_search_with_no_vectors_reports_all_unindexed(auth_client, user, make_notes):
    make_notes(user, ["A: one", "B: two"])
    body = auth_client.get("/semantic/search", {"q": "one", "mode": "semantic"}).json()
    assert body == {"results": [], "model": "hashing-384", "unindexed": 2, "mode": "semantic"}
    # Words still find a note that has no vector yet.
    body = auth_client.get("/semantic/search", {"q": "one"}).json()
    assert [(r["title"], r["matched"]) for r in body["results"]] == [("A", ["keyword"])]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "limit is 500"),
        ({"q": "ok", "limit": 0}, "limit"),
        ({"q": "ok", "limit": 51}, "at most 50"),
        ({"q": "ok", "limit": "ten"}, "limit"),
    ],
)
def test_bad_queries_are_400_with_words(auth_client, params, fragment):
    response = auth_client.get("/semantic/search", params)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_search_requires_authentication(api_client):
    assert api_client.get("/semantic/search", {"q": "x"}).status_code == 401


def test_broken_model_is_503_not_500(auth_client, user, make_notes, settings, tmp_path):
    make_notes(user, ["A: one"])
    NoteEmbedding.objects.create(
        note=Note.objects.get(user=user), user=user, model="all-MiniLM-L6-v2", dimensions=384,
        vector=b"\0" * 1536, text_hash="x", updated_at="2025-01-01T00:00:00Z",
    )  # fmt: skip
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path)
    response = auth_client.get("/semantic/search", {"q": "one"})
    assert response.status_code == 503
    assert "model files not found" in response.json()["detail"]


def test_matrix_is_reused_until_vectors_change(user, make_notes, monkeypatch):
    make_notes(user, [f"N{i}: text number {i}" for i in range(5)])
    note_embeddings_regenerate(user=user)
    loads = []
    original = selectors._load_matrix
    monkeypatch.setattr(selectors, "_load_matrix", lambda **kw: loads.append(1) or original(**kw))

    note_search(user=user, query="text", limit=3)
    note_search(user=user, query="number", limit=3)
    assert len(loads) == 1

    make_notes(user, ["New: brand new text"])
    note_embeddings_regenerate(user=user, only_stale=True)
    assert "New" in [r["title"] for r in note_search(user=user, query="brand new", limit=3)["results"]]
    assert len(loads) == 2

    Note.objects.filter(title="New").delete()
    assert "New" not in [r["title"] for r in note_search(user=user, query="brand new", limit=6)["results"]]
    assert len(loads) == 3

    note = Note.objects.get(title="N0")
    note.content = "rewritten about volcanoes"
    note.save()
    note_embeddings_regenerate(user=user, only_stale=True)
    assert note_search(user=user, query="volcanoes", limit=1)["results"][0]["title"] == "N0"
    assert len(loads) == 4


def test_cached_search_is_two_queries_whatever_the_note_count(user, make_notes, django_assert_num_queries):
    make_notes(user, [f"N{i}: text number {i}" for i in range(300)])
    note_embeddings_regenerate(user=user)
    note_search(user=user, query="warm the cache", limit=10)
    # the version aggregate, then the top notes' titles and snippets
    with django_assert_num_queries(2):
        found = note_search(user=user, query="number 7", limit=10)
    assert len(found["results"]) == 10


def test_cache_respects_its_memory_budget(user, other_user, make_notes, settings):
    settings.SEMANTIC_SEARCH_CACHE_MB = 0
    make_notes(user, ["A: alpha"])
    note_embeddings_regenerate(user=user)
    note_search(user=user, query="alpha")
    assert selectors.vector_cache.get((user.pk, "hashing-384"), version=None) is None
    assert not selectors.vector_cache._items
