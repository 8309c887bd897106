"""Note embeddings and search by meaning."""

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "semantic"
    verbose_name = "Semantic search"

    def ready(self):
        # Registers the checks, the doctor's diagnostics, the tracked tasks and the worker hooks.
        from semantic import checks, diagnostics, hooks, tasks  # noqa: F401
