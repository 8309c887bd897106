"""`reconcile_jobs`: run one stuck-job reconciler pass now and print what it changed."""

import json

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from jobs.reconciler import background_jobs_reconcile


class Command(BaseCommand):
    help = "Compare active BackgroundJob rows with RQ's state in Redis and repair lost or stuck ones."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only print what would change.")
        parser.add_argument("--json", action="store_true", help="Print the repairs as JSON.")

    def handle(self, *args, **options):
        try:
            repairs = background_jobs_reconcile(dry_run=options["dry_run"])
        except RedisError as exc:
            raise CommandError(f"Redis is unreachable ({exc}); check REDIS_URL and that redis-server runs.") from exc
        if options["json"]:
            self.stdout.write(json.dumps([repair.as_dict() for repair in repairs], indent=2))
            return
        for repair in repairs:
            self.stdout.write(str(repair))
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(f"Reconciler {verb} {len(repairs)} job(s).")
