"""Keyword search: web-search syntax on PostgreSQL and SQLite alike, ranked, owner-only, bad input a 400."""

import re

import pytest
from django.db import connection, transaction

from notes.models import Note
from notes.search import (
    KeywordQueryError,
    fts5_expression,
    keyword_query_parse,
    note_keyword_matches,
    note_keyword_ranking,
)
from notes.services import note_create, note_update
from notes.snippets import snippet_around

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_auto_embed(settings):
    settings.SEMANTIC_AUTO_EMBED = False


def _titles(client, search):
    response = client.get("/notes", {"search": search})
    assert response.status_code == 200, response.content
    return [note["title"] for note in response.json()["results"]]


@pytest.fixture
def notes(user):
    for title, content in [
        ("dogs", "The dog barked at the postman all morning."),
        ("cats", "A cat slept on the warm windowsill."),
        ("pets", "Dogs and cats both need a vet visit every year."),
        ("invoice", "Paid invoice INV-2024-0042 to Acme on Monday."),
        ("garden", "Planted tomatoes; the dog dug them out again."),
    ]:
        note_create(user=user, title=title, content=content)


def test_words_must_all_match_and_rank_the_best_first(auth_client, notes):
    assert set(_titles(auth_client, "dog")) == {"dogs", "pets", "garden"}
    assert _titles(auth_client, "dog vet") == ["pets"]


def test_phrase_exclusion_and_or(auth_client, notes):
    assert _titles(auth_client, '"warm windowsill"') == ["cats"]
    assert _titles(auth_client, '"windowsill warm"') == []
    assert set(_titles(auth_client, "dog -tomatoes")) == {"dogs", "pets"}
    assert set(_titles(auth_client, 'postman or "warm windowsill"')) == {"dogs", "cats"}
    assert set(_titles(auth_client, "dog -postman or cat -vet")) == {"pets", "garden", "cats"}


def test_codes_are_found_verbatim(auth_client, notes):
    assert _titles(auth_client, "INV-2024-0042") == ["invoice"]
    assert _titles(auth_client, "INV-2024-0043") == []


def test_index_follows_edits_and_deletes(auth_client, user, notes):
    note = Note.objects.get(title="cats")
    note_update(note=note, content="A parrot talks.")
    assert _titles(auth_client, "parrot") == ["cats"]
    assert _titles(auth_client, "windowsill") == []
    note_update(note=note, title="budgie")
    assert _titles(auth_client, "budgie") == ["budgie"]
    note.delete()
    assert _titles(auth_client, "parrot") == []
    Note.objects.bulk_create([Note(user=user, title="bulk", content="written around the services")])
    assert _titles(auth_client, "services") == ["bulk"]  # the database keeps the index, whatever writes


def test_nobody_sees_another_users_notes(auth_client, other_client, notes):
    assert _titles(other_client, "dog") == []
    assert other_client.get("/notes", {"search": "dog"}).json()["count"] == 0


@pytest.mark.parametrize(
    "search",
    ['"', '""', "-", "--", "*", "NEAR(", "AND", "OR", "NOT dog", 'a"b', "dog*", "^dog", "{x}:y", "(", "\\", "'"],
)
def test_odd_input_is_a_query_or_a_400_never_a_500(auth_client, notes, search):
    response = auth_client.get("/notes", {"search": search})
    assert response.status_code in (200, 400), response.content
    assert "detail" in response.json() or "results" in response.json()


@pytest.mark.parametrize("search", ["", "   ", "the", "-dog", '"" -cat', "!!! ???", "x" * 501])
def test_nothing_to_look_for_is_a_400_with_words(auth_client, notes, search):
    response = auth_client.get("/notes", {"search": search})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("search:")


def test_without_search_the_list_is_unchanged(auth_client, notes):
    assert auth_client.get("/notes").json()["count"] == 5


def test_parser_builds_quoted_fts5_strings():
    query = keyword_query_parse('dog "big cat" -"x y" or NEAR*')
    assert fts5_expression(query) == '(("dog" AND "big cat") NOT ("x y")) OR ("NEAR*")'
    assert fts5_expression(query, relaxed=True) == '(("dog" OR "big cat" OR "NEAR*") NOT ("x y"))'
    with pytest.raises(KeywordQueryError):
        keyword_query_parse("the -dog or -cat")


def test_snippet_marks_matched_words_around_the_densest_match():
    text = "intro " * 100 + "the dogs <b>ran</b> with a dog " + "outro " * 100
    snippet, highlight = snippet_around(text, words=["dog"])
    assert "dogs" in snippet and len(snippet) <= 210
    assert "<mark>dogs</mark>" in highlight and "<mark>dog</mark>" in highlight
    assert "&lt;b&gt;ran&lt;/b&gt;" in highlight


def _ranked(user, text):
    return note_keyword_ranking(user=user, query=keyword_query_parse(text), limit=50, relaxed=True)


def test_a_rare_word_outweighs_a_common_one_repeated(user):
    """BM25 on both databases: how rare a word is among the notes counts, not only how often it occurs."""
    for i in range(12):
        note_create(user=user, title=f"fruit {i}", content=f"An apple a day, entry {i}.")
    common = note_create(user=user, title="orchard", content="Apple apple apple, apple pie and apple jam.")
    rare = note_create(user=user, title="zoo", content="We saw a zebra and an apple tree.")
    ranked = [note_id for note_id, _ in _ranked(user, "apple zebra")]
    assert ranked[0] == rare.pk
    assert ranked.index(common.pk) < ranked.index(Note.objects.get(title="fruit 0").pk)  # more often, same rarity


def test_the_scored_pool_is_chosen_by_how_rare_the_matched_words_are(user, monkeypatch):
    """PostgreSQL scores only BM25_POOL notes: those whose matched words weigh most, not the most repeated words.

    Ten notes repeat the common word; the one note with the rare word must make
    a pool of three (ts_rank, which has no idf, put it last).
    """
    import notes.search

    monkeypatch.setattr(notes.search, "BM25_POOL", 3)
    for i in range(10):
        note_create(user=user, title=f"standup {i}", content="Meeting, meeting, meeting: the meeting ran over.")
    rare = note_create(user=user, title="trip", content="Booked the ferry to Zanzibar.")
    ranked = note_keyword_ranking(user=user, query=keyword_query_parse("meeting zanzibar"), limit=3, relaxed=True)
    assert ranked[0][0] == rare.pk and len(ranked) == 3


def test_phrases_and_exclusions_hold_in_the_relaxed_ranking(user):
    """The pool is chosen word by word; a phrase still has to appear whole and an excluded word keeps a note out."""
    whole = note_create(user=user, title="a", content="We took the night train to Vienna.")
    note_create(user=user, title="b", content="A train left at night, not to Vienna.")
    excluded = note_create(user=user, title="c", content="The night bus to Vienna, then a train.")
    ranked = [note_id for note_id, _ in _ranked(user, '"night train" -bus')]
    assert ranked == [whole.pk]
    assert excluded.pk not in [note_id for note_id, _ in _ranked(user, "vienna -bus")]


def test_postgres_document_frequencies_are_the_callers_own(user, other_user):
    """On PostgreSQL a word's rarity is counted among the caller's notes only (FTS5's bm25 is table-wide)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's FTS5 bm25 counts every row of the table")
    note_create(user=user, title="a", content="quokka sightings on the island")
    note_create(user=user, title="b", content="island ferry times")
    before = _ranked(user, "quokka island")
    for i in range(20):
        note_create(user=other_user, title=f"q{i}", content=f"quokka quokka number {i}")
    assert _ranked(user, "quokka island") == before
    assert {note_id for note_id, _ in before} == set(Note.objects.filter(user=user).values_list("pk", flat=True))


def _rows_read_per_scan(plan: str) -> list[int]:
    """Each scan node's rows read per loop: those it returned plus those its filter removed."""
    reads, in_scan = [], False
    for line in plan.splitlines():
        if "rows=" in line:  # a plan node
            in_scan = "Scan" in line
            if in_scan:
                reads.append(int(re.search(r"rows=(\d+)", line).group(1)))
        elif "Rows Removed by Filter" in line and in_scan:
            reads[-1] += int(line.split(":")[1])
    return reads


def test_postgres_lookups_read_only_the_callers_notes(user, other_user):
    """Each word's lookup and the average length go through indexes keyed by user: no other user's note is read.

    With the GIN index on the search vector alone, a word's lookup fetched every
    user's notes holding it and dropped the others' afterwards (a user's search
    grew with the whole database). The planner looks a word up through the
    (user, vector) GIN index on a large account (every claim of the eval set at
    10,000 notes) and may read a small account's notes through the user index.
    """
    from notes.search import _pg_bm25

    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's (production)")
    Note.objects.bulk_create(Note(user=user, title=f"n{i}", content=f"island ferry times, day {i}") for i in range(400))
    Note.objects.bulk_create(
        Note(user=other_user, title=f"q{i}", content=f"quokka island number {i}") for i in range(400)
    )
    note_create(user=user, title="a", content="quokka sightings on the island")
    sql, params = _pg_bm25(user=user, query=keyword_query_parse("quokka island"), limit=10, relaxed=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Note._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [Note._meta.db_table])
        indexes = [row[0] for row in cursor.fetchall()]
    assert "note_user_updated_idx" in plan and "Seq Scan" not in plan, plan
    assert max(_rows_read_per_scan(plan)) <= Note.objects.filter(user=user).count(), plan
    # At this size the planner reads the caller's notes through the user index; on a large
    # account it looks each word up in the GIN index, which must therefore be keyed by user.
    assert [i for i in indexes if "USING gin" in i] == [next(i for i in indexes if "(user_id, search_vector)" in i)]


def test_postgres_reads_the_vectors_of_the_pool_only(user):
    """The phrase/exclusion check reads the pooled notes by primary key, not every note matching the query.

    Answered through the GIN index, `@@ q` fetched every matching note (most of
    an account for a sentence-long query) to keep the pool's.
    """
    import notes.search

    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's (production)")
    pool = notes.search.BM25_POOL
    Note.objects.bulk_create(
        Note(user=user, title=f"n{i}", content=f"island ferry times, day {i}") for i in range(pool + 100)
    )
    sql, params = notes.search._pg_bm25(user=user, query=keyword_query_parse("island -bus"), limit=10, relaxed=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Note._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    reads = plan[plan.index("CTE pool") :].split("\n  ->")[0]
    assert "Index Scan using scribes_note_pkey" in reads and f"loops={pool})" in reads, plan
    assert "Bitmap" not in reads, plan


def test_matches_among_candidates_keep_the_query_as_written(user, other_user, notes):
    """The lookup tier's membership test: every word, phrases whole, exclusions, only the caller's notes."""
    ids = dict(Note.objects.filter(user=user).values_list("title", "pk"))
    theirs = note_create(user=other_user, title="their dog", content="A dog and a vet.")
    among = [*ids.values(), theirs.pk]

    def matches(text, among=among):
        found = note_keyword_matches(user=user, query=keyword_query_parse(text), among=among)
        return {title for title, pk in ids.items() if pk in found} | ({"THEIRS"} if theirs.pk in found else set())

    assert matches("dog vet") == {"pets"}
    assert matches("dog -tomatoes") == {"dogs", "pets"}
    assert matches('"warm windowsill" or INV-2024-0042') == {"cats", "invoice"}
    assert matches("dog", among=[ids["dogs"], ids["cats"]]) == {"dogs"}
    assert matches("dog", among=[]) == set()
