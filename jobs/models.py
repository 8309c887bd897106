"""BackgroundJob: the database mirror of every RQ job, and its audit trail."""

import json
import uuid

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


#: States in which a job still owes an outcome.
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class BackgroundJob(models.Model):
    job_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: The RQ job id of the current attempt: `str(job_id)` for jobs we enqueue,
    #: the fixed schedule id for periodic jobs that rq-scheduler enqueues.
    rq_job_id = models.CharField(max_length=128)
    job_type = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="background_jobs",
        # bgjob_user_created_idx leads with user_id and serves every lookup by user.
        db_index=False,
        help_text="Empty for system jobs (sweeps, reconciler).",
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    processed_items = models.PositiveIntegerField(default=0)
    total_items = models.PositiveIntegerField(default=0)
    #: Keyword arguments of the task, kept so a retry can run it again.
    params = models.JSONField(default=dict, blank=True)
    result_data = models.JSONField(null=True, blank=True)
    #: One line for users (GET /jobs/{id}); the traceback and the log are for operators only.
    error_message = models.TextField(blank=True, default="")
    #: The full traceback of the last failure, cut to JOBS_TRACEBACK_MAX_CHARS
    #: (earlier attempts' tracebacks are in the audit trail).
    # db_default too: rows inserted by raw SQL (bench seeds, other tools) need no value.
    error_traceback = models.TextField(blank=True, default="", db_default="")
    #: Lines the task wrote through `job.log(...)`, cut to JOBS_LOG_MAX_CHARS (the latest kept).
    log = models.TextField(blank=True, default="", db_default="")
    queue = models.CharField(max_length=64)
    #: The X-Request-ID of the request that started the job (empty for periodic runs): on
    #: the web's and the worker's log lines alike, so an operator follows one to the other.
    request_id = models.CharField(max_length=128, blank=True, default="", db_default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Each index is written on every status change: none here is redundant,
        # and the one that only serves active jobs holds only them.
        indexes = [
            # "recent jobs", "jobs by status", "failed in the last 24 h", the
            # reconciler's active rows, and "running for more than an hour" (few
            # rows are active; status and started_at filter them)
            models.Index(fields=["status", "-created_at"], name="bgjob_status_created_idx"),
            # a user's job list, newest first; every lookup by user
            models.Index(fields=["user", "-created_at"], name="bgjob_user_created_idx"),
            # "is one already queued or running for this user and type"; a row
            # that leaves the active states is not written here again
            models.Index(
                fields=["user", "job_type"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="bgjob_user_type_active_idx",
            ),
            # finished rows by finish time: the console's rollup of the last
            # minutes, retention, "failed in the last 24 h"; active rows are not in it
            models.Index(
                fields=["completed_at"],
                condition=models.Q(completed_at__isnull=False),
                name="bgjob_completed_idx",
            ),
            # RQ job id → row (reconciler, callbacks); equality only, so no
            # LIKE index (which db_index=True adds on PostgreSQL)
            models.Index(fields=["rq_job_id"], name="bgjob_rq_job_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress_percent__lte=100),
                name="bgjob_progress_lte_100",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values),
                name="bgjob_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.job_type} {self.job_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None


#: How result_data is encoded: the reconciler accepts exactly the results the row can store.
RESULT_ENCODER = BackgroundJob._meta.get_field("result_data").encoder


def result_storable(value) -> bool:
    """Whether `value` can be stored in result_data (JSON through RESULT_ENCODER)."""
    try:
        json.dumps(value, cls=RESULT_ENCODER)
    except (TypeError, ValueError):
        return False
    return True


class BackgroundJobEvent(models.Model):
    """One line of a job's audit trail: who changed it, when, why, from what to what."""

    job = models.ForeignKey(BackgroundJob, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    #: "system" actions (reconciler, worker) have no actor; this names the source.
    source = models.CharField(max_length=32, default="system")
    action = models.CharField(max_length=32)
    reason = models.TextField(blank=True, default="")
    status_before = models.CharField(max_length=16, choices=JobStatus.choices)
    status_after = models.CharField(max_length=16, choices=JobStatus.choices)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.action}: {self.status_before} → {self.status_after}"
