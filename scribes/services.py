"""Writes for the notes domain and accounts."""

from django.contrib.auth import get_user_model
from django.db import transaction

from scribes.models import Note


@transaction.atomic
def user_register(*, username: str, email: str, password: str):
    User = get_user_model()
    return User.objects.create_user(username=username, email=email, password=password)


@transaction.atomic
def note_create(*, user, title: str, content: str = "") -> Note:
    from semantic.services import note_embedding_schedule

    note = Note.objects.create(user=user, title=title, content=content)
    # After commit, coalesced: a burst of writes enqueues one embedding job.
    note_embedding_schedule(note=note)
    return note


@transaction.atomic
def note_update(*, note: Note, **fields) -> Note:
    from semantic.services import note_embedding_schedule

    for name, value in fields.items():
        setattr(note, name, value)
    note.save()
    if {"title", "content"} & fields.keys():
        note_embedding_schedule(note=note)
    return note


@transaction.atomic
def note_delete(*, note: Note) -> None:
    note.delete()
