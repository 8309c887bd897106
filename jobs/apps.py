"""The tracked-job core: BackgroundJob rows mirroring RQ jobs, their runner and checks."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self):
        # Registers the checks and the tracked tasks (the reconciler); every app
        # registers its own the same way.
        from jobs import checks, tasks  # noqa: F401
