"""GET /semantic/search modes: hybrid fusion, keyword syntax, long notes by chunk, isolation, bad input."""

import numpy as np
import pytest

from notes.models import Note
from semantic import chunking
from semantic.hybrid import convex_fuse, rrf_fuse
from semantic.models import NoteEmbedding
from semantic.selectors import note_unindexed_count
from semantic.services import note_embeddings_regenerate

pytestmark = pytest.mark.django_db

NOTES = [
    "Invoice: paid INV-2024-0042 to Acme for the garden tools",
    "Garden: tomatoes and basil in the raised garden bed",
    "Pets: the dog barked at the postman all morning",
    "Cats: a cat slept on the warm windowsill",
]


def _search(client, **params):
    response = client.get("/semantic/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def _titles(client, **params):
    return [r["title"] for r in _search(client, **params)["results"]]


@pytest.fixture
def notes(user, make_notes):
    made = make_notes(user, NOTES)
    note_embeddings_regenerate(user=user)
    return made


def test_rrf_rewards_agreement_and_keeps_single_signal_hits():
    fused = rrf_fuse([([1, 2, 3], 1.0), ([2, 4], 1.0)], k=60)
    assert [note_id for note_id, _ in fused] == [2, 1, 4, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_convex_fusion_normalizes_each_signal_and_breaks_ties_by_id():
    # semantic min-max: 7 -> 1.0, 5 -> 0.5, 3 -> 0.0; keyword / its best x 0.3: 3 -> 0.3, 9 -> 0.15
    fused = convex_fuse([(3, 8.0), (9, 4.0)], [(7, 0.9), (5, 0.7), (3, 0.5)], weight=0.3)
    assert [note_id for note_id, _ in fused] == [7, 5, 3, 9]
    assert fused[2][1] == pytest.approx(0.3) and fused[3][1] == pytest.approx(0.15)
    # equal scores: the lower id first, whatever order the inputs came in
    tied = convex_fuse([(4, 1.0), (2, 1.0)], [(2, 0.5), (4, 0.5)])
    assert [note_id for note_id, _ in tied] == [2, 4]
    assert convex_fuse([], []) == []


def test_hybrid_order_is_deterministic(auth_client, notes):
    first = _search(auth_client, q="garden dog cat invoice", limit=4)["results"]
    again = _search(auth_client, q="garden dog cat invoice", limit=4)["results"]
    assert [(r["note_id"], r["score"]) for r in first] == [(r["note_id"], r["score"]) for r in again]
    scores = [r["score"] for r in first]
    assert scores == sorted(scores, reverse=True)


def test_each_result_says_which_signals_matched_and_marks_words(auth_client, notes):
    body = _search(auth_client, q="garden tomatoes", limit=4)
    assert body["mode"] == "hybrid"
    top = body["results"][0]
    assert top["title"] == "Garden" and top["matched"] == ["keyword", "semantic"]
    assert "<mark>tomatoes</mark>" in top["highlight"] and "<mark>garden</mark>" in top["highlight"]
    semantic_only = [r for r in body["results"] if r["matched"] == ["semantic"]]
    assert semantic_only and all("<mark>" not in r["highlight"] for r in semantic_only)


def test_exact_code_is_first_in_keyword_and_hybrid_modes(auth_client, notes):
    for mode in ("hybrid", "keyword"):
        assert _titles(auth_client, q="INV-2024-0042", mode=mode)[0] == "Invoice"
    assert _titles(auth_client, q="INV-2024-0042", mode="keyword") == ["Invoice"]


def test_rare_token_ranks_first_in_hybrid_even_among_many_similar_notes(auth_client, user, make_notes):
    # Invoices that mean nearly the same by meaning; only one holds the code.
    make_notes(user, [f"Invoice: paid INV-2024-{n:04d} to Acme for the garden tools" for n in range(1, 30)])
    make_notes(user, ["Invoice: paid INV-7731-XQ to Acme for the garden tools"])
    note_embeddings_regenerate(user=user)
    for q in ("INV-7731-XQ", "paid INV-7731-XQ to Acme"):
        assert _search(auth_client, q=q, limit=3)["results"][0]["snippet"].startswith("paid INV-7731-XQ"), q


def test_keyword_mode_phrase_exclusion_and_or(auth_client, notes):
    assert _titles(auth_client, q='"warm windowsill"', mode="keyword") == ["Cats"]
    assert _titles(auth_client, q='"windowsill warm"', mode="keyword") == []
    assert _titles(auth_client, q="garden -tomatoes", mode="keyword") == ["Invoice"]
    assert set(_titles(auth_client, q="postman or windowsill", mode="keyword")) == {"Pets", "Cats"}


def test_semantic_mode_ranks_by_meaning_only(auth_client, notes):
    body = _search(auth_client, q="garden", mode="semantic", limit=4)
    assert all(r["matched"] == ["semantic"] for r in body["results"])
    assert [r["score"] for r in body["results"]] == sorted((r["score"] for r in body["results"]), reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_no_mode_shows_another_users_notes(auth_client, other_client, other_user, notes, make_notes, mode):
    make_notes(other_user, ["Theirs: garden party with tomatoes INV-2024-0042"])
    note_embeddings_regenerate(user=other_user)
    mine = {n.pk for n in notes}
    for query in ("garden tomatoes", "INV-2024-0042", "party"):
        found = {r["note_id"] for r in _search(auth_client, q=query, mode=mode, limit=50)["results"]}
        assert found <= mine
    theirs = _search(other_client, q="garden", mode=mode, limit=50)["results"]
    assert [r["title"] for r in theirs] == ["Theirs"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "garden", "mode": "fuzzy"}, "mode"),
        ({"q": ""}, "q"),
        ({"q": "the of -garden", "mode": "keyword"}, "no word to look for"),
    ],
)
def test_bad_mode_or_empty_query_is_a_400_in_words(auth_client, notes, params, fragment):
    response = auth_client.get("/semantic/search", params)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_hybrid_without_searchable_words_ranks_by_meaning(auth_client, notes):
    body = _search(auth_client, q="the of", limit=2)
    assert len(body["results"]) == 2 and all(r["matched"] == ["semantic"] for r in body["results"])


@pytest.mark.parametrize("q", ['"', "-", "NEAR(", "a OR", "*", "^", '"unterminated', "(x", "\\"])
def test_odd_queries_never_fail(auth_client, notes, q):
    for mode in ("hybrid", "keyword"):
        assert auth_client.get("/semantic/search", {"q": q, "mode": mode}).status_code in (200, 400)


FILLER = " ".join(
    "The quarterly planning meeting covered budgets, staffing, office moves and the new coffee machine."
    for _ in range(40)
)


def test_long_note_is_stored_as_chunks_and_counted_once(user, make_notes):
    (note,) = make_notes(user, [f"Long: {FILLER}"])
    result = note_embeddings_regenerate(user=user)
    stored = NoteEmbedding.objects.get(note=note)
    chunks = len(chunking.chunk_spans(f"Long\n\n{FILLER}"))
    assert chunks > 1
    assert len(bytes(stored.vector)) == chunks * stored.dimensions * 4
    assert result["embeddings_generated"] == 1 and result["chunks_embedded"] == chunks
    assert note_embeddings_regenerate(user=user, only_stale=True)["total_notes"] == 0
    assert note_unindexed_count(user=user) == 0  # doctor's and the API's count: notes, not chunks


@pytest.mark.realmodel
def test_match_past_the_model_window_is_found_by_meaning(minilm, auth_client, user, make_notes, monkeypatch):
    ending = "Later that evening the volcano erupted and every flight out of Iceland was cancelled."
    make_notes(
        user,
        [
            f"Minutes: {FILLER} {ending}",
            "Trip: booked a hotel near the beach for the summer holiday",
            "Weather: heavy rain expected all weekend",
            "Pets: the dog needs a walk",
        ],
    )
    query = "volcanic eruption grounded the planes"

    # One chunk (the model reads only the beginning): the ending cannot be found.
    monkeypatch.setattr(chunking, "CHUNK_WORDS", 100_000)
    note_embeddings_regenerate(user=user)
    assert _titles(auth_client, q=query, mode="semantic", limit=4)[0] != "Minutes"

    monkeypatch.undo()
    note_embeddings_regenerate(user=user)
    top = _search(auth_client, q=query, mode="semantic", limit=4)["results"][0]
    assert top["title"] == "Minutes"
    assert top["snippet"].startswith("…")  # it starts at the best chunk, not at the note's beginning
    vector = np.frombuffer(bytes(Note.objects.get(title="Minutes").embedding.vector), dtype=np.float32)
    assert vector.size > 384


def test_docs_show_the_search_parameters(api_client):
    import yaml

    response = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = response.json() if response["Content-Type"].endswith("json") else yaml.safe_load(response.content)

    def names(path):
        return {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}

    search = names("/semantic/search/")
    assert {"q", "limit", "mode"} <= set(search)
    assert set(search["mode"]["schema"]["enum"]) == {"hybrid", "semantic", "keyword"}
    assert "search" in names("/notes/")
    result = schema["components"]["schemas"]["SearchResult"]["properties"]
    assert {"matched", "highlight", "snippet", "score"} <= set(result)


def test_keyword_candidates_outside_the_semantic_top_get_their_real_cosine(user, notes):
    """Hybrid scores a keyword-only candidate by its cosine, not by the bottom of the semantic candidates."""
    from semantic.selectors import note_semantic_ranking

    ids = [note.pk for note in notes]
    ranking = note_semantic_ranking(user=user, query="dog barked", limit=1, also=ids)
    (top,) = ranking["ranked"]
    also = {note_id: score for note_id, score, _ in ranking["also"]}
    assert set(also) == set(ids) - {top[0]}  # every asked note but the one already ranked
    full = note_semantic_ranking(user=user, query="dog barked", limit=len(ids))
    assert also == {note_id: score for note_id, score, _ in full["ranked"] if note_id != top[0]}


def test_hybrid_encodes_the_query_once_beside_the_keyword_ranking(auth_client, notes, monkeypatch):
    """The query's encode runs in another thread while the keyword ranking waits on the database, once per search."""
    import threading

    from semantic.embedders import get_embedder

    embedder = get_embedder()
    original, threads = embedder.encode, []

    def encode(texts):
        threads.append(threading.current_thread().name)
        return original(texts)

    monkeypatch.setattr(embedder, "encode", encode)
    assert _titles(auth_client, q="garden tools invoice")[0].startswith("Invoice")
    assert len(threads) == 1 and threads[0].startswith("query-encode")
    threads.clear()
    _titles(auth_client, q="garden tools invoice", mode="semantic")  # one signal: encoded in the request's thread
    assert len(threads) == 1 and not threads[0].startswith("query-encode")


def test_a_forked_process_gets_query_threads_of_its_own():
    """A child forked after a search must not wait on the parent's encode threads, which it does not have."""
    import os

    from semantic.hybrid import query_encoder

    assert query_encoder().submit(lambda: 1).result(timeout=5) == 1
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether its own pool answered
        try:
            os._exit(0 if query_encoder().submit(lambda: 2).result(timeout=5) == 2 else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
