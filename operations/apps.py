"""What operators use, above every app: admin pages, dashboard, doctor, bundle, metrics, audit, retention, pausing."""

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        # The job core and the feature apps import nothing from here; this app
        # hooks itself onto them: the doctor's diagnostics (registered on import),
        # housekeeping on the reconciler's pass, job counters on every state
        # change, the audit of their operator actions, and their metric collectors.
        from common.signals import operator_acted
        from jobs import transitions
        from jobs.hooks import register_housekeeping
        from operations import diagnostics  # noqa: F401
        from operations.audit import operator_action_receiver
        from operations.console_metrics import register_collector
        from operations.job_counters import job_counters_observe
        from operations.retention import background_jobs_prune_finished, background_jobs_prune_periodic
        from operations.stats import job_stats_roll_up
        from reminders.metrics import ReminderDeliveryCollector, ReminderLatenessCollector

        register_housekeeping(
            "operations",
            _roll_up_then_prune(job_stats_roll_up, background_jobs_prune_finished, background_jobs_prune_periodic),
        )
        operator_acted.connect(operator_action_receiver, dispatch_uid="operations.audit")
        transitions.observe("job counters", job_counters_observe)
        register_collector(ReminderLatenessCollector)
        register_collector(ReminderDeliveryCollector)


def _roll_up_then_prune(roll_up, prune, prune_periodic):
    def run() -> dict:
        # The rollup runs first so a row is counted before retention can delete it.
        rolled = roll_up()
        retention = {**prune(), "periodic_rows": prune_periodic()}
        return {"stats_buckets_written": rolled, **{f"pruned_{kind}": n for kind, n in retention.items()}}

    return run
