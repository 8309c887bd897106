"""RQ failure callback: the backstop for failures that never reached the task body.

`run_tracked` records ordinary exceptions itself. This callback covers the rest
(the function could not be imported, the arguments could not be loaded, a
timeout while the runner was between statements); it is a no-op when the row
already left queued/running.
"""

import logging

from django.db import close_old_connections

from jobs import services
from jobs.runner import describe_failure, is_final_attempt

logger = logging.getLogger(__name__)


def on_job_failure(rq_job, connection, exc_type, exc_value, traceback):
    close_old_connections()
    message = describe_failure(exc_value, timeout=rq_job.timeout) if exc_value else "Job failed"
    if services.background_job_record_rq_failure(rq_job=rq_job, error=message, final=is_final_attempt(rq_job)):
        logger.error(
            "[queue %s] job %s failed before its task recorded it: %s",
            rq_job.origin,
            rq_job.id,
            message,
        )
