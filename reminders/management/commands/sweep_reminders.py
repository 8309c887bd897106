"""`manage.py sweep_reminders`: run one due-reminder sweep now, through the task's own path."""

from django.core.management.base import BaseCommand, CommandError

from jobs.models import BackgroundJob
from reminders.tasks import sweep_due_reminders


class Command(BaseCommand):
    help = "Send every due reminder now (one sweep, recorded as a reminder_sweep BackgroundJob) and print the summary."

    def handle(self, *args, **options):
        try:
            result = sweep_due_reminders(manual=True)
        except Exception as exc:
            raise CommandError(f"The sweep failed: {type(exc).__name__}: {exc}. See the log above.") from exc
        row = BackgroundJob.objects.filter(job_type="reminder_sweep").order_by("-created_at").first()
        if result.get("skipped"):
            raise CommandError(f"Sweep skipped: {result['skipped']}. Try again when it has finished.")
        self.stdout.write(
            f"Reminder sweep done: {result['due']} due, {result['sent']} sent, {result['failed']} failed "
            f"({result['retrying']} will be retried). Job {row.job_id if row else '?'}."
        )
