"""The notes domain: a user's notes, their API and admin."""

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
