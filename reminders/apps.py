"""Reminders on notes and the periodic sweep that delivers them."""

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self):
        from jobs.console_metrics import register_collector

        # Registers the checks, the doctor's diagnostics and the tracked tasks (the sweep).
        from reminders import checks, diagnostics, tasks  # noqa: F401
        from reminders.metrics import ReminderDeliveryCollector, ReminderLatenessCollector

        register_collector(ReminderLatenessCollector)
        register_collector(ReminderDeliveryCollector)
