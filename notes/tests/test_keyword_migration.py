"""The keyword index migration indexes the notes that exist when it runs, and reverses cleanly."""

import pytest
from django.core.management import call_command

from notes.models import Note
from notes.search import keyword_query_parse, note_keyword_ranking


@pytest.mark.django_db(transaction=True)
def test_migration_indexes_existing_notes_and_reverses(user):
    call_command("migrate", "notes", "0001", verbosity=0)
    try:
        old = Note.objects.create(user=user, title="Before the index", content="a note about rhubarb crumble")
        call_command("migrate", "notes", "0002", verbosity=0)
        found = note_keyword_ranking(user=user, query=keyword_query_parse("rhubarb"), limit=10)
        assert [note_id for note_id, _ in found] == [old.pk]
    finally:
        call_command("migrate", "notes", verbosity=0)
