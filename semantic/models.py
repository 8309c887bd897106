"""NoteEmbedding: one vector per note, with the model and text it was computed from."""

from django.conf import settings
from django.db import models

from notes.models import Note


class NoteEmbedding(models.Model):
    """A note's vector as float32 bytes (portable: no database extension needed).

    `model` and `text_hash` make staleness detectable: a vector is current only when
    it was computed by the active model from the note's current text. `user` is the
    note's owner, copied so a user's vectors load from one index range.
    """

    note = models.OneToOneField(Note, on_delete=models.CASCADE, primary_key=True, related_name="embedding")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=100)
    dimensions = models.PositiveSmallIntegerField()
    vector = models.BinaryField()
    #: sha256 of the exact text that was embedded (`semantic.services.note_embedding_text`).
    text_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # search: "this user's vectors of this model", and the cache's version check
            models.Index(fields=["user", "model", "updated_at"], name="noteemb_user_model_upd_idx"),
        ]

    def __str__(self):
        return f"embedding of note {self.note_id} ({self.model})"
