"""Retention: finished job rows and Idempotency-Key records are deleted after a configurable age.

Without it the job table grows by every job ever run. Completed and cancelled
rows go after `JOBS_RETENTION_DAYS`, failed ones (what an operator may still
need to read) after `JOBS_FAILED_RETENTION_DAYS`; Idempotency-Key records,
which only matter while a client may retry, after `IDEMPOTENCY_KEY_RETENTION_HOURS`.
Completed periodic runs have a shorter rule, `JOBS_PERIODIC_RETENTION_DAYS`: the
reconciler alone writes a row a minute. Each pass deletes at most `limit` rows per kind, oldest first, so one pass
never holds a long transaction; the reconciler runs it every minute.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from idempotency.models import IdempotencyKey
from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import SCHEDULE_ID_PREFIX

logger = logging.getLogger("operations.retention")


def _delete_oldest(queryset, order_by: str, limit: int) -> int:
    ids = list(queryset.order_by(order_by).values_list("pk", flat=True)[:limit])
    if ids:
        queryset.model.objects.filter(pk__in=ids).delete()
    return len(ids)


def background_jobs_prune_finished(*, now: datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """Delete old finished rows (and their audit events) and old Idempotency-Key records; counts by kind."""
    now = now or timezone.now()
    finished = _delete_oldest(
        BackgroundJob.objects.filter(
            status__in=[JobStatus.COMPLETED, JobStatus.CANCELLED],
            completed_at__lt=now - timedelta(days=settings.JOBS_RETENTION_DAYS),
        ),
        "completed_at",
        limit,
    )
    failed = _delete_oldest(
        BackgroundJob.objects.filter(
            status=JobStatus.FAILED,
            completed_at__lt=now - timedelta(days=settings.JOBS_FAILED_RETENTION_DAYS),
        ),
        "completed_at",
        limit,
    )
    keys = _delete_oldest(
        IdempotencyKey.objects.filter(created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS)),
        "created_at",
        limit,
    )
    if finished or failed or keys:
        logger.info(
            "Retention: deleted %d finished and %d failed job row(s), %d Idempotency-Key record(s)",
            finished,
            failed,
            keys,
        )
    return {"finished_rows": finished, "failed_rows": failed, "idempotency_keys": keys}


def background_jobs_prune_periodic(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Delete completed periodic-run rows older than JOBS_PERIODIC_RETENTION_DAYS (oldest first); how many.

    Failed runs stay for operators; jobs users started are never touched; what a
    pass repaired stays on the repaired rows' own audit events.
    """
    now = now or timezone.now()
    return _delete_oldest(
        BackgroundJob.objects.filter(
            status=JobStatus.COMPLETED,
            rq_job_id__startswith=SCHEDULE_ID_PREFIX,
            user__isnull=True,
            completed_at__lt=now - timedelta(days=settings.JOBS_PERIODIC_RETENTION_DAYS),
        ),
        "completed_at",
        limit,
    )
