"""Reads for the notes domain."""

from django.db.models import QuerySet

from notes.models import Note
from notes.search import MAX_RESULTS, keyword_query_parse, note_keyword_ranking


def note_list_for_user(*, user) -> QuerySet[Note]:
    return Note.objects.filter(user=user)


def note_ids_matching(*, user, search: str) -> list[int]:
    """The user's note ids matching web-search syntax, best first (at most MAX_RESULTS).

    Raises `notes.search.KeywordQueryError` when the query has nothing to look for.
    """
    query = keyword_query_parse(search)
    return [note_id for note_id, _ in note_keyword_ranking(user=user, query=query, limit=MAX_RESULTS)]
