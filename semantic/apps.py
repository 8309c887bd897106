"""Note embeddings and search by meaning."""

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "semantic"
    verbose_name = "Semantic search"

    def ready(self):
        from semantic import checks  # noqa: F401  (registers the checks)
