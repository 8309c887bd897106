"""Reminders on notes and the periodic sweep that delivers them."""

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self):
        # Registers the checks, the doctor's diagnostics and the tracked tasks (the sweep).
        from reminders import checks, diagnostics, tasks  # noqa: F401
