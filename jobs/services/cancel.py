"""The owner's cancel (`POST /jobs/{id}/cancel`): the operator's cancel service, for one's own job."""

from __future__ import annotations

from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from jobs.services.operator import background_job_cancel


class JobNotCancellable(Exception):
    """The job already finished (completed or failed); the API answers 409."""


def background_job_cancel_own(*, user, job_id) -> BackgroundJob:
    """Cancel `user`'s job `job_id` and return its row; idempotent.

    The same service as the admin's cancel action (`background_job_cancel`),
    so the row, the RQ job and the audit trail ("cancel" by the user, source
    "api") end the same way whoever asked. Raises `BackgroundJob.DoesNotExist`
    for another user's (or no) job, `JobNotCancellable` for a finished one.
    A cancelled job is returned as it is.
    """
    mine = BackgroundJob.objects.filter(pk=job_id, user=user)
    row = mine.first()
    if row is None:
        raise BackgroundJob.DoesNotExist(f"No job {job_id}.")
    if row.status in ACTIVE_STATUSES:
        background_job_cancel(job_rows=mine, reason=f"Cancelled by {user.get_username()} (API)", by=user, source="api")
        # Changed, or finished meanwhile (the worker won the race): the row says which.
        row.refresh_from_db()
    if row.status in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise JobNotCancellable(f"Job {job_id} already {row.status}; only queued or running jobs can be cancelled.")
    return row
