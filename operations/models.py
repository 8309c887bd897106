"""The operator tools' own rows: the audit list, the dashboard's rollups, and the admin's page entries."""

from django.conf import settings
from django.db import models

from jobs.models import BackgroundJob


class OperatorAction(models.Model):
    """One operator action on anything but a single job's state: pausing a queue, reminders' actions, bulk actions.

    A job's own audit trail stays in BackgroundJobEvent; this is the
    searchable list of who did what from the admin or a command.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Where it came from ("admin", "command", "api", "system"); commands have no actor.
    source = models.CharField(max_length=32, default="admin")
    action = models.CharField(max_length=64)
    #: What it acted on, e.g. "queue:scribes", "reminders:3,4,5", "jobs:<id>".
    target = models.CharField(max_length=255, blank=True, default="")
    count = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True, default="")

    class Meta:
        # The tables keep the names they had when these models lived in the jobs app.
        db_table = "jobs_operatoraction"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"


class JobStatsBucket(models.Model):
    """Five minutes (or an hour) of finished jobs of one type on one queue: counts and time histograms.

    The operator dashboard reads these instead of aggregating millions of
    rows; `operations.stats.job_stats_roll_up` (run on the reconciler's pass) writes them.
    The histograms count jobs per bin of `operations.stats.BOUNDS`.
    """

    #: Seconds covered: 300 (five minutes) or 3600 (a closed hour, the sum of its twelve).
    span = models.PositiveIntegerField(default=300)
    start = models.DateTimeField()
    queue = models.CharField(max_length=64)
    job_type = models.CharField(max_length=64)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    #: created → started (queue wait) and started → completed (run time)
    wait_histogram = models.JSONField(default=list)
    run_histogram = models.JSONField(default=list)
    wait_seconds = models.FloatField(default=0.0)
    run_seconds = models.FloatField(default=0.0)

    class Meta:
        db_table = "jobs_jobstatsbucket"
        constraints = [
            models.UniqueConstraint(fields=["span", "start", "queue", "job_type"], name="jobstats_bucket_unique"),
        ]

    def __str__(self):
        return f"{self.start:%Y-%m-%d %H:%M} {self.queue} {self.job_type}"


class JobDashboard(BackgroundJob):
    """No table of its own: gives the admin index an "Operator dashboard" entry (see operations.console_admin)."""

    class Meta:
        proxy = True
        verbose_name = "operator dashboard"
        verbose_name_plural = "operator dashboard"


class JobHealth(BackgroundJob):
    """No table of its own: gives the admin index a "Job health" entry (see operations.admin)."""

    class Meta:
        proxy = True
        verbose_name = "job health"
        verbose_name_plural = "job health"
