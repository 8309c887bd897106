"""`reset_queues`: clear this project's RQ keys and fail their rows; never FLUSHDB.

Replaces the guide's `redis-cli FLUSHDB` plus "UPDATE background_jobs SET status
= 'failed'" recipe. Without --yes it only says what it would do.
"""

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from operations.services import rq_queues_reset


class Command(BaseCommand):
    help = "Delete this project's RQ queues, registries and job keys, and mark queued/running jobs failed."

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="Really do it (otherwise a dry run).")

    def handle(self, *args, **options):
        try:
            report = rq_queues_reset(apply=options["yes"])
        except RedisError as exc:
            raise CommandError(f"Redis is unreachable ({exc}); check REDIS_URL.") from exc
        keys = report["keys"]
        if options["verbosity"] > 1 or not options["yes"]:
            for key in keys[:200]:
                self.stdout.write(f"  {key}")
        if not options["yes"]:
            self.stdout.write(
                f"Would delete {len(keys)} RQ key(s) and mark {report['rows']} queued/running job(s) failed. "
                "Nothing changed; run again with --yes to do it."
            )
            return
        self.stdout.write(
            f"Deleted {len(keys)} RQ key(s); marked {report['rows']} queued/running job(s) failed. "
            "Worker registrations and rq-scheduler entries were kept."
        )
