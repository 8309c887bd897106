"""Note embeddings and search by meaning."""

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "semantic"
