"""Writes on BackgroundJob, by sub-domain: starting jobs, worker transitions, operator actions, repairs.

The names are re-exported here so callers import `jobs.services.<name>` without
knowing the split. Every status change goes through `jobs.transitions`.
"""

from jobs.services.cancel import JobNotCancellable, background_job_cancel_own
from jobs.services.operator import (
    RETRYABLE_STATUSES,
    background_job_cancel,
    background_job_mark_failed,
    background_job_retry,
)
from jobs.services.repairs import (
    background_job_complete_from_rq,
    background_job_mark_requeued,
    background_job_move_queue,
    background_job_reenqueue,
)
from jobs.services.starting import (
    JobEnqueueError,
    background_job_create_running,
    background_job_enqueue,
    background_job_enqueue_continuation,
    background_job_start,
    background_job_start_many,
)
from jobs.services.worker import (
    ERROR_MESSAGE_MAX,
    background_job_claim,
    background_job_hand_off,
    background_job_record_completion,
    background_job_record_failure,
    background_job_record_log,
    background_job_record_rq_failure,
    background_job_resume,
    background_job_set_progress,
)

__all__ = [
    "ERROR_MESSAGE_MAX",
    "RETRYABLE_STATUSES",
    "JobEnqueueError",
    "JobNotCancellable",
    "background_job_cancel",
    "background_job_cancel_own",
    "background_job_claim",
    "background_job_hand_off",
    "background_job_complete_from_rq",
    "background_job_create_running",
    "background_job_enqueue",
    "background_job_enqueue_continuation",
    "background_job_mark_failed",
    "background_job_mark_requeued",
    "background_job_move_queue",
    "background_job_record_completion",
    "background_job_record_failure",
    "background_job_record_log",
    "background_job_record_rq_failure",
    "background_job_reenqueue",
    "background_job_resume",
    "background_job_retry",
    "background_job_set_progress",
    "background_job_start",
    "background_job_start_many",
]
