"""The project app: auth endpoints, health and project-wide checks."""

from django.apps import AppConfig


class ScribesConfig(AppConfig):
    name = "scribes"
    verbose_name = "Scribes"

    def ready(self):
        from scribes import checks  # noqa: F401  (registers the checks)
