"""The project app: owns the notes domain, auth endpoints and project-wide checks."""

from django.apps import AppConfig


class ScribesConfig(AppConfig):
    name = "scribes"
    verbose_name = "Notes"

    def ready(self):
        from scribes import checks  # noqa: F401  (registers the checks)
