"""Reminders on notes and the periodic sweep that delivers them."""

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self):
        from reminders import checks  # noqa: F401  (registers the checks)
