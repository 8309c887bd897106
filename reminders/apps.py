"""Reminders on notes and the periodic sweep that delivers them."""

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self):
        from jobs.console_metrics import register_collector
        from reminders import checks  # noqa: F401  (registers the checks)
        from reminders.metrics import ReminderLatenessCollector

        register_collector(ReminderLatenessCollector)
