"""The project app: auth endpoints, health and project-wide checks."""

from django.apps import AppConfig


class ScribesConfig(AppConfig):
    name = "scribes"
    verbose_name = "Scribes"

    def ready(self):
        from scribes import checks, openapi  # noqa: F401  (register the checks and the schema's auth scheme)
