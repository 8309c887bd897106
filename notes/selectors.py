"""Reads for the notes domain."""

from django.db.models import QuerySet

from notes.models import Note


def note_list_for_user(*, user) -> QuerySet[Note]:
    return Note.objects.filter(user=user)
