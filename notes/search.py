"""Keyword search over notes: web-search syntax parsed once, run by PostgreSQL full text or SQLite FTS5.

The query language is PostgreSQL's `websearch_to_tsquery`: words (all must
match), "quoted phrases", `-word` / `-"phrase"` to exclude, `or` between
alternatives. It is parsed here, in Python, for both databases, so the same
query means the same thing on both: PostgreSQL receives one
`websearch_to_tsquery` per unit (it stems and drops stop words) joined with
`&&`, `||`, `!!`; SQLite receives an FTS5 MATCH expression in which every unit
is a quoted FTS5 string. User text therefore never reaches either parser as
syntax: any input is a valid query or, when nothing searchable is left, a
`KeywordQueryError` (a 400 at the API).

Index: PostgreSQL keeps a stored generated `tsvector` column (title weighted
above content) with a GIN index; SQLite keeps an external-content FTS5 table
that triggers update. Both are maintained by the database on every write path
(services, bulk writes, the admin), which a service-maintained column would
not be (see notes/migrations/0002_keyword_index.py). The SQL lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import connection, transaction

#: Most notes `GET /notes?search=` ranks (its count and pages stop there).
MAX_RESULTS = 1000
PG_CONFIG = "english"

# PostgreSQL's English stop words: dropped from unquoted words on both
# databases (PostgreSQL drops them itself), so "the" means the same on both.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while of
    at by for with about against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don should now""".split()
)

_PIECE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
#: What a word is: for parsing queries and for marking them in snippets (notes.snippets).
WORD = re.compile(r"[^\W_]+")


class KeywordQueryError(ValueError):
    """The query holds nothing to look for (only stop words, punctuation or exclusions)."""


@dataclass(frozen=True)
class Unit:
    text: str
    phrase: bool


@dataclass
class Group:
    """Units that must all match (`positive`) and none of `negative`."""

    positive: list[Unit] = field(default_factory=list)
    negative: list[Unit] = field(default_factory=list)


@dataclass
class KeywordQuery:
    groups: list[Group]  # alternatives (`or`)

    @property
    def size(self) -> int:
        """How many words and phrases the query looks for."""
        return sum(len(g.positive) for g in self.groups)

    @property
    def words(self) -> list[str]:
        """Lower-cased words to look for (for highlighting)."""
        return [w.lower() for g in self.groups for u in g.positive for w in WORD.findall(u.text)]


def keyword_query_parse(text: str) -> KeywordQuery:
    """Parse web-search syntax; raise KeywordQueryError when nothing is left to look for."""
    groups = [Group()]
    for match in _PIECE.finditer(text):
        negated, quoted, word_negated, word = match.groups()
        if word is not None and word.lower() == "or":
            groups.append(Group())
            continue
        if word is not None:
            negated, body, phrase = word_negated, word, False
        else:
            body, phrase = quoted, True
        words = WORD.findall(body)
        if not words or (not phrase and all(w.lower() in STOP_WORDS for w in words)):
            continue
        unit = Unit(text=" ".join(words) if phrase else body, phrase=phrase)
        (groups[-1].negative if negated else groups[-1].positive).append(unit)
    kept = [group for group in groups if group.positive]
    if not kept:
        raise KeywordQueryError("The search has no word to look for (only stop words, punctuation or exclusions).")
    return KeywordQuery(kept)


# --- SQLite FTS5 ---------------------------------------------------------------


def _fts_string(unit: Unit) -> str:
    # Inside an FTS5 string everything is literal; the table's tokenizer splits it.
    return '"' + unit.text.replace('"', '""') + '"'


def _fts_any(units: list[Unit]) -> str:
    return "(" + " OR ".join(_fts_string(u) for u in units) + ")"


def fts5_expression(query: KeywordQuery, *, relaxed: bool = False) -> str:
    """The FTS5 MATCH expression: strict (as written) or relaxed (any positive unit)."""
    if relaxed:
        positive = [u for g in query.groups for u in g.positive]
        negative = [u for g in query.groups for u in g.negative]
        expression = _fts_any(positive)
        return f"({expression} NOT {_fts_any(negative)})" if negative else expression
    parts = []
    for group in query.groups:
        expression = "(" + " AND ".join(_fts_string(u) for u in group.positive) + ")"
        if group.negative:
            expression = f"({expression} NOT {_fts_any(group.negative)})"
        parts.append(expression)
    return " OR ".join(parts)


# --- PostgreSQL ----------------------------------------------------------------


def _pg_unit(unit: Unit, params: list) -> str:
    params.append(f'"{unit.text}"' if unit.phrase else unit.text)
    return f"websearch_to_tsquery('{PG_CONFIG}', %s)"


def pg_tsquery(query: KeywordQuery, params: list, *, relaxed: bool = False) -> str:
    """A tsquery expression built from the parsed query; its values are appended to `params`."""
    if relaxed:
        positive = [u for g in query.groups for u in g.positive]
        negative = [u for g in query.groups for u in g.negative]
        expression = "(" + " || ".join(_pg_unit(u, params) for u in positive) + ")"
        if negative:
            expression += " && !!(" + " || ".join(_pg_unit(u, params) for u in negative) + ")"
        return f"({expression})"
    parts = []
    for group in query.groups:
        terms = [_pg_unit(u, params) for u in group.positive]
        if group.negative:
            terms.append("!!(" + " || ".join(_pg_unit(u, params) for u in group.negative) + ")")
        parts.append("(" + " && ".join(terms) + ")")
    return "(" + " || ".join(parts) + ")"


# --- Ranked search ---------------------------------------------------------------

_NOTE = "scribes_note"
_FTS = "notes_fts"
# bm25 weights per FTS5 column (title, content); PostgreSQL weights the title 'A', content 'B'.
_BM25 = f"bm25({_FTS}, 2.0, 1.0)"
#: BM25's term-frequency saturation and length normalization: the usual values, FTS5's too.
BM25_K1, BM25_B = 1.2, 0.75
#: Notes read to estimate the average note length (in distinct words) on PostgreSQL.
AVGDL_SAMPLE = 200
#: PostgreSQL scores BM25 over at least this many notes, those whose matched words weigh most (see
#: below), and over `limit` when that is larger: hybrid search asks for its CANDIDATES (150), so
#: its pool is at least those. Measured on the labeled claims (hybrid nDCG@10, tuning | held-out
#: half, PostgreSQL): pool 150 0.927 | 0.927, 200 0.927 | 0.924, 300 and 1,000 0.927 | 0.919;
#: keyword mode the same at every size. 150 rather than 300 saves ~5 ms per search at 10,000 notes.
BM25_POOL = 150

# PostgreSQL has no BM25 (ts_rank knows nothing of how rare a word is, which
# ranked the labeled claims 0.77 nDCG@10 against FTS5 bm25's 0.89), so it is
# written here, per user: a word's document frequency is counted among the
# caller's notes, never among other users', and its term frequency is read
# from the stored tsvector, a title occurrence ('A') counting twice as in the
# FTS5 weights above. Document length is the number of distinct words
# (`length(tsvector)`), its average taken over the user's AVGDL_SAMPLE most
# recently edited notes (read through the (user, updated_at) index) so that a
# 100k-note account does not read every vector per query.
#
# One GIN lookup per query word (`idf`: the ids of the notes holding it, as one
# array; the index holds the user too, see
# notes/migrations/0003_keyword_index_per_user.py) gives both the word's document
# frequency (the array's length) and the pool: the BM25_POOL notes with the
# largest sum of their matched words' idf, the score BM25 tends to when term
# counts and lengths are alike. (A row per matching note, grouped by word and
# joined back, cost ~2.5 ms more per search at 10,000 notes.)
# Only the pool's tsvectors are read and scored. Choosing the pool by ts_rank
# instead read the vector of every note matching any word (most of a 10k-note
# account for a sentence-long query: 29 of the statement's 58 ms) and ranked it
# without idf. Phrases and exclusions are checked on the pool (`q`), each
# pooled note read by primary key: `OFFSET 0` keeps the planner from answering
# `@@ q` through the GIN index instead, which read every note matching the whole
# query (3,600 of 10,000 for a sentence) to keep the pool (~3 ms per search). The
# query's lexemes come first, in their own round trip, so that each lookup gets
# a constant tsquery (a GIN index scan, not a scan of every note); each lexeme
# is quoted into the tsquery, never parsed as syntax.
_PG_LEXEMES = f"SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('{PG_CONFIG}', %s)))"
_PG_BM25 = f"""
WITH q AS MATERIALIZED (SELECT {{tsquery}} AS q),
stats AS MATERIALIZED (SELECT count(*)::float8 AS n FROM {_NOTE} WHERE user_id = %(user)s),
sample AS MATERIALIZED (
    SELECT greatest(avg(length(s.search_vector)), 1)::float8 AS avgdl
    FROM (
        SELECT search_vector FROM {_NOTE} WHERE user_id = %(user)s
        ORDER BY updated_at DESC, id DESC LIMIT {AVGDL_SAMPLE}
    ) s
),
idf AS MATERIALIZED (
    SELECT v.lexeme, m.ids, ln(1 + (stats.n - cardinality(m.ids) + 0.5) / (cardinality(m.ids) + 0.5)) AS idf
    FROM (VALUES {{terms}}) AS v(lexeme, query)
    CROSS JOIN stats
    CROSS JOIN LATERAL (
        SELECT array_agg(id) AS ids FROM {_NOTE} WHERE user_id = %(user)s AND search_vector @@ v.query
    ) m
    WHERE m.ids IS NOT NULL
),
terms AS MATERIALIZED (
    SELECT array_agg(lexeme ORDER BY lexeme) AS lexemes, array_agg(idf ORDER BY lexeme) AS idfs FROM idf
),
top AS MATERIALIZED (
    SELECT h.id FROM idf CROSS JOIN LATERAL unnest(idf.ids) AS h(id)
    GROUP BY h.id ORDER BY sum(idf.idf) DESC, h.id LIMIT %(pool)s
),
pool AS MATERIALIZED (
    SELECT n.id, n.search_vector
    FROM top
    CROSS JOIN LATERAL (SELECT id, search_vector FROM {_NOTE} WHERE id = top.id OFFSET 0) n
    CROSS JOIN q
    WHERE n.search_vector @@ q.q
)
SELECT n.id, s.score
FROM pool n
CROSS JOIN sample
CROSS JOIN terms
CROSS JOIN LATERAL (
    SELECT coalesce(sum(
        terms.idfs[array_position(terms.lexemes, u.lexeme)] * f.tf * {BM25_K1 + 1}
        / (f.tf + {BM25_K1} * ({1 - BM25_B} + {BM25_B} * length(n.search_vector) / sample.avgdl))
    ), 0) AS score
    FROM unnest(ts_delete(n.search_vector, tsvector_to_array(ts_delete(n.search_vector, terms.lexemes))))
        AS u(lexeme, positions, weights)
    CROSS JOIN LATERAL (SELECT cardinality(u.weights) + cardinality(array_positions(u.weights, 'A')) AS tf) f
) s
ORDER BY s.score DESC, n.id
LIMIT %(limit)s
"""
_PG_TERM = "(%({l})s, %({t})s::tsquery)"


def _pg_lexeme_literal(lexeme: str) -> str:
    """A lexeme as tsquery input: quoted, so that no character of it is read as an operator."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_bm25(*, user, query: KeywordQuery, limit: int, relaxed: bool) -> tuple[str, dict]:
    words = " ".join(u.text for g in query.groups for u in g.positive)
    with connection.cursor() as cursor:
        cursor.execute(_PG_LEXEMES, [words])
        lexemes = sorted(row[0] for row in cursor.fetchall())
    positional: list = []
    tsquery = pg_tsquery(query, positional, relaxed=relaxed)
    # pg_tsquery spells positional placeholders; this statement names its values.
    params: dict = {f"u{i}": value for i, value in enumerate(positional)}
    tsquery = tsquery.replace("%s", "{}").format(*(f"%({name})s" for name in params))
    for i, lexeme in enumerate(lexemes):
        params[f"l{i}"], params[f"t{i}"] = lexeme, _pg_lexeme_literal(lexeme)
    terms = ", ".join(_PG_TERM.format(l=f"l{i}", t=f"t{i}") for i in range(len(lexemes))) or "(NULL, NULL::tsquery)"
    sql = _PG_BM25.replace("{tsquery}", tsquery).replace("{terms}", terms)
    return sql, {**params, "user": user.pk, "limit": limit, "pool": max(limit, BM25_POOL)}


def note_keyword_ranking(*, user, query: KeywordQuery, limit: int, relaxed: bool = False) -> list[tuple[int, float]]:
    """The user's notes matching `query`, best first, as `(note_id, score)`; higher scores (BM25) are better.

    `relaxed` ranks notes matching any positive unit (phrases still whole,
    exclusions still excluded): the keyword signal of hybrid search, where a
    sentence-long query seldom has every word in one note.
    """
    if connection.vendor == "postgresql":
        sql, params = _pg_bm25(user=user, query=query, limit=limit, relaxed=relaxed)
    else:
        sql = (
            f"SELECT n.id, -{_BM25} AS score FROM {_FTS} JOIN {_NOTE} n ON n.id = {_FTS}.rowid"
            f" WHERE {_FTS} MATCH %s AND n.user_id = %s ORDER BY {_BM25}, n.id LIMIT %s"
        )
        params = [fts5_expression(query, relaxed=relaxed), user.pk, limit]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner prices `@@` as cheap and looks up a common word by reading
            # every note of the user (25 ms at 10k notes) rather than through the
            # GIN index (2 ms); for this statement only, steer it to the index.
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(sql, params)
        return [(note_id, float(score)) for note_id, score in cursor.fetchall()]


def note_keyword_matches(*, user, query: KeywordQuery, among: list[int]) -> set[int]:
    """Which of the notes `among` match `query` as written (every word of a group): no ranking.

    Hybrid search's lookup tier asks this of its candidates only, so it reads
    those notes by primary key rather than ranking every match of the query.
    """
    if not among:
        return set()
    if connection.vendor == "postgresql":
        params: list = []
        tsquery = pg_tsquery(query, params)
        sql = f"SELECT id FROM {_NOTE} WHERE id = ANY(%s) AND user_id = %s AND search_vector @@ {tsquery}"
        params = [list(among), user.pk, *params]
    else:
        marks = ", ".join(["%s"] * len(among))
        sql = (
            f"SELECT n.id FROM {_FTS} JOIN {_NOTE} n ON n.id = {_FTS}.rowid"
            f" WHERE {_FTS} MATCH %s AND {_FTS}.rowid IN ({marks}) AND n.user_id = %s"
        )
        params = [fts5_expression(query), *among, user.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}
