"""The notes domain: a user's notes."""

from django.conf import settings
from django.db import models

#: Longest note body accepted (characters); larger input is a 400, not a slow job.
NOTE_CONTENT_MAX_LENGTH = 100_000
NOTE_TITLE_MAX_LENGTH = 200


class Note(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes")
    title = models.CharField(max_length=NOTE_TITLE_MAX_LENGTH)
    content = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table kept its name from when notes lived in the project package.
        db_table = "scribes_note"
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="note_user_updated_idx")]

    def __str__(self):
        return self.title
