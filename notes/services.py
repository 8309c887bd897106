"""Writes for the notes domain."""

from django.db import transaction

from notes.hooks import note_written
from notes.models import Note


@transaction.atomic
def note_create(*, user, title: str, content: str = "") -> Note:
    note = Note.objects.create(user=user, title=title, content=content)
    note_written(note=note)
    return note


@transaction.atomic
def note_update(*, note: Note, **fields) -> Note:
    for name, value in fields.items():
        setattr(note, name, value)
    note.save()
    if {"title", "content"} & fields.keys():
        note_written(note=note)
    return note


@transaction.atomic
def note_delete(*, note: Note) -> None:
    note.delete()
