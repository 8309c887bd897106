"""`rqscheduler` that registers the project's periodic jobs, then runs rq-scheduler."""

from django_rq import get_scheduler
from django_rq.management.commands import rqscheduler

from jobs.schedules import register_periodic_jobs
from scribes import queues


class Command(rqscheduler.Command):
    help = "Register the Scribes periodic jobs (idempotently) and run rq-scheduler on the project queue."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(queue=queues.DEFAULT)
        parser.add_argument(
            "--register-only",
            action="store_true",
            help="Register the periodic jobs and exit without scheduling.",
        )

    def handle(self, *args, **options):
        scheduler = get_scheduler(name=options["queue"], interval=options["interval"])
        lines = register_periodic_jobs(scheduler)
        for line in lines:
            self.stdout.write(f"Periodic job registered: {line}")
        if not lines:
            self.stdout.write("No periodic jobs are registered by the installed apps.")
        if options["register_only"]:
            return
        return super().handle(*args, **options)
