"""`fail_stuck_jobs`: the blunt manual repair, "running longer than N minutes → failed"."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from jobs.services import background_job_mark_failed
from operations.selectors import background_job_stuck


class Command(BaseCommand):
    help = "Mark jobs running for longer than --older-than minutes as failed (and stop their RQ jobs)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=60, metavar="MINUTES", help="Default: 60.")
        parser.add_argument("--dry-run", action="store_true", help="Only list the jobs.")

    def handle(self, *args, **options):
        minutes = options["older_than"]
        if minutes < 0:
            minutes = 0
        # Running ones only: a queued job waits for a worker, failing it would lose it.
        stuck = background_job_stuck(running_for_minutes=minutes, queued_for_minutes=0).order_by("started_at")
        now = timezone.now()
        for job in stuck:
            running = (now - job.started_at).total_seconds() / 60
            self.stdout.write(f"{job.job_id} {job.job_type} running for {running:.0f} min (attempt {job.attempts})")
        if options["dry_run"]:
            self.stdout.write(f"{stuck.count()} job(s) would be marked failed (dry run).")
            return
        n = background_job_mark_failed(
            job_rows=stuck,
            reason=f"Worker stopped unexpectedly (running for more than {minutes} min; fail_stuck_jobs)",
            source="command",
        )
        self.stdout.write(f"{n} job(s) marked failed.")
