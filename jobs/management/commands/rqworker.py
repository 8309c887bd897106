"""`rqworker` that listens on the project queues by default, with RQ's scheduler on.

django-rq's own command listens on "default" when given no queue: a worker on
one name and an API enqueuing to another leave jobs queued forever. With no arguments this
one listens on every project queue, critical first (a one-process deployment);
`--purpose system|semantic` starts one kind of worker (see `common.queues`).
RQ's built-in scheduler must run for retries with intervals and `enqueue_in`
jobs, or those sit in the scheduled registry forever (rq-scheduler does not move
them).

A worker for the system purpose alone runs its jobs in its own process
(`ScribesSimpleWorker`) unless `--worker-class` says otherwise: its jobs (the
sweep, the reconciler) are short and never load the model, so a fork per job,
plus the new database connection each horse opens, cost more than the jobs
themselves (`bench/queues.py`: 2.45 x a bare `rq worker` without the fork, 0.32
with it). A job that crashes the process takes the worker down with it; the
supervisor restarts it and the reconciler fails or retries the row, as for a
killed work-horse. Every other worker forks: the model worker keeps the model
loaded in the parent and shares it with each horse.
"""

from django.core.management.base import CommandError
from django_rq.management.commands import rqworker

from common import queues

SYSTEM_WORKER_CLASS = "jobs.worker.ScribesSimpleWorker"


class Command(rqworker.Command):
    help = (
        "Run an RQ worker on the Scribes queues (" + ", ".join(queues.ALL) + " unless --purpose or queues are given)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--without-scheduler",
            action="store_false",
            dest="with_scheduler",
            help="Do not run RQ's scheduler in this worker (retries with delays would then wait for another worker).",
        )
        parser.add_argument(
            "--purpose",
            action="append",
            choices=sorted(queues.PURPOSES),
            help="Listen on the queues of this purpose: system (reminders, reconciler; never loads the model) "
            "or semantic (embeddings; loads the model once). Repeatable.",
        )
        parser.set_defaults(with_scheduler=True, worker_ttl=self._default_worker_ttl())

    @staticmethod
    def _default_worker_ttl():
        from django.conf import settings

        return settings.RQ_WORKER_TTL

    def handle(self, *args, **options):
        from django.conf import settings

        names = list(args)
        purposes = options.pop("purpose", None) or []
        for purpose in purposes:
            names += [name for name in queues.PURPOSES[purpose] if name not in names]
        if set(purposes) == {"system"} and not args and not options.get("worker_class"):
            options["worker_class"] = SYSTEM_WORKER_CLASS
        names = names or list(queues.ALL)
        unknown = [name for name in names if name not in settings.RQ_QUEUES]
        if unknown:
            raise CommandError(
                f"Unknown queue(s) {', '.join(unknown)}; configured queues: {', '.join(settings.RQ_QUEUES)}. "
                "Run without arguments to listen on the project queues, or with --purpose system|semantic."
            )
        foreign = [name for name in names if name not in queues.ALL]
        if foreign:
            self.stderr.write(f"Warning: nothing in Scribes enqueues to {', '.join(foreign)}.")
        return super().handle(*names, **options)
