"""`rqscheduler` that registers the project's periodic jobs, then runs rq-scheduler.

The scheduler runs under a fixed instance name (`SCHEDULER_NAME`), so `/health`
and the doctor can tell whether it is alive from one key, without scanning. A
second scheduler started while one runs waits as a standby until the first one's
key expires (it stopped, or was killed: then within interval + 10 s).
"""

import os
import time
import warnings

from django.conf import settings
from django_rq import get_scheduler
from django_rq.management.commands import rqscheduler
from rq.logutils import setup_loghandlers

from common import queues
from jobs.schedules import SCHEDULER_NAME, register_periodic_jobs, scheduler_alive


def silence_crontab_warning() -> None:
    """Drop the `crontab` package's FutureWarning that rq-scheduler triggers at every cron computation.

    rq-scheduler passes a naive local `now` and converts the result itself, the
    old behaviour the warning announces a change from; the text (eight lines)
    only filled the scheduler log.
    """
    warnings.filterwarnings("ignore", message=r"Version 0\.22\.0\+ of crontab", category=FutureWarning)


silence_crontab_warning()


class Command(rqscheduler.Command):
    help = "Register the Scribes periodic jobs (idempotently) and run rq-scheduler on the project queue."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # rq-scheduler's default poll is 60 s; a shorter one keeps the
        # every-minute reconciler on time (one ZRANGEBYSCORE per poll).
        parser.set_defaults(queue=queues.SYSTEM, interval=settings.RQ_SCHEDULER_INTERVAL)
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
        if options.get("pid"):
            with open(os.path.expanduser(options["pid"]), "w") as fh:
                fh.write(str(os.getpid()))
        verbosity = options["verbosity"]
        setup_loghandlers("DEBUG" if verbosity >= 2 else "WARNING" if verbosity == 0 else "INFO")
        scheduler.name = SCHEDULER_NAME
        announced = False
        while scheduler_alive(scheduler.connection):
            if not announced:
                self.stdout.write(
                    f"Another scheduler ({scheduler.key}) is alive; standing by until it stops "
                    f"(a killed one expires within {options['interval'] + 10} s)."
                )
                announced = True
            time.sleep(min(options["interval"], 5))
        self.stdout.write(f"rq-scheduler {scheduler.key} polling every {options['interval']} s")
        scheduler.run()
