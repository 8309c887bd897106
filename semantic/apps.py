"""Note embeddings and search by meaning."""

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "semantic"
    verbose_name = "Semantic search"

    def ready(self):
        from notes.hooks import register_note_written

        # Registers the checks, the doctor's diagnostics, the tracked tasks and the worker hooks.
        from semantic import checks, diagnostics, hooks, tasks  # noqa: F401
        from semantic.services import note_embedding_schedule

        # After commit, coalesced: a burst of note writes enqueues one embedding job.
        register_note_written(note_embedding_schedule)
