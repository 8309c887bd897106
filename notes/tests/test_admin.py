"""Notes admin: search and each note's embedding state."""

import pytest

from notes.models import Note
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, text_hash

pytestmark = pytest.mark.django_db


def test_notes_changelist_shows_embedding_state(admin_client, user, settings):
    from semantic.embedders import active_model_name

    model = active_model_name()
    fresh = Note.objects.create(user=user, title="fresh one", content="a")
    edited = Note.objects.create(user=user, title="edited one", content="b")
    Note.objects.create(user=user, title="missing one", content="c")
    for note, text in ((fresh, note_embedding_text(title="fresh one", content="a")), (edited, "old text")):
        NoteEmbedding.objects.create(
            note=note, user=user, model=model, dimensions=1, vector=b"\0\0\0\0", text_hash=text_hash(text),
            updated_at=note.updated_at,
        )  # fmt: skip
    html = admin_client.get("/admin/notes/note/").content.decode()
    assert "fresh</span>" in html and "stale: note edited" in html and "missing</span>" in html
    missing_only = admin_client.get("/admin/notes/note/?embedding=missing").content.decode()
    assert "missing one" in missing_only and "fresh one" not in missing_only
    assert "edited one" in admin_client.get("/admin/notes/note/?q=edited").content.decode()
