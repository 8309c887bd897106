"""The project app: auth endpoints, health and project-wide checks."""

from django.apps import AppConfig


class ScribesConfig(AppConfig):
    name = "scribes"
    verbose_name = "Scribes"

    def ready(self):
        # Register the checks, doctor's pool-capacity diagnostic and the schema's auth scheme.
        from scribes import checks, dbpool, openapi  # noqa: F401
