"""The tracked-job core: BackgroundJob rows mirroring RQ jobs, their runner and checks."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self):
        from jobs import checks  # noqa: F401  (registers the checks)

        # Import every app's `tasks` module so the registry (and thus the worker
        # banner and the checks) knows every tracked task before any job runs.
        autodiscover_modules("tasks")
