"""`queues [status] | pause NAME [--reason ...] | resume NAME`: hold a queue's jobs without stopping the workers."""

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from common import queues
from jobs.pausing import paused_queues
from operations.pausing import queue_pause, queue_resume


class Command(BaseCommand):
    help = "Show, pause or resume the project's queues. A paused queue keeps its jobs; workers take none until resumed."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", default="status", choices=["status", "pause", "resume"])
        parser.add_argument("name", nargs="?", help=f"Queue name: one of {', '.join(queues.ALL)}.")
        parser.add_argument("--reason", default="", help="Why (shown on the dashboard and in the audit list).")

    def handle(self, *args, action, name, reason, **options):
        try:
            if action == "status":
                self._status()
                return
            if not name:
                raise CommandError(f"Name the queue to {action}: one of {', '.join(queues.ALL)}.")
            if name not in queues.ALL:
                raise CommandError(f"Unknown queue {name!r}; project queues: {', '.join(queues.ALL)}.")
            if action == "pause":
                changed = queue_pause(name=name, by=None, reason=reason, source="command")
                self.stdout.write(
                    f"Queue {name} paused: workers take none of its jobs until `manage.py queues resume {name}`."
                    if changed
                    else f"Queue {name} was already paused."
                )
            else:
                changed = queue_resume(name=name, by=None, source="command")
                self.stdout.write(f"Queue {name} resumed." if changed else f"Queue {name} was not paused.")
        except RedisError as exc:
            raise CommandError(f"Redis is unreachable ({exc}); check REDIS_URL and that redis-server runs.") from exc

    def _status(self):
        paused = paused_queues()
        for name in queues.ALL:
            flag = paused.get(name)
            if flag:
                why = f", {flag['reason']}" if flag.get("reason") else ""
                self.stdout.write(f"{name}: PAUSED by {flag.get('by')} at {flag.get('at')}{why}")
            else:
                self.stdout.write(f"{name}: running")
