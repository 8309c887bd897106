"""Retention: old finished rows and Idempotency-Key records go, failed rows stay longer, active rows never."""

from datetime import timedelta

import pytest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from jobs.models import BackgroundJob, BackgroundJobEvent, JobStatus
from operations.retention import background_jobs_prune_finished

pytestmark = pytest.mark.django_db


def _row(user, status, days_ago):
    done = timezone.now() - timedelta(days=days_ago)
    return BackgroundJob.objects.create(
        user=user,
        job_type="semantic_regenerate",
        rq_job_id="x",
        queue="scribes",
        status=status,
        completed_at=None if status in (JobStatus.QUEUED, JobStatus.RUNNING) else done,
    )


def test_finished_rows_and_keys_are_pruned_by_age_failed_rows_kept_longer(user, settings):
    settings.JOBS_RETENTION_DAYS = 30
    settings.JOBS_FAILED_RETENTION_DAYS = 90
    settings.IDEMPOTENCY_KEY_RETENTION_HOURS = 48
    old_done = _row(user, JobStatus.COMPLETED, 31)
    old_cancelled = _row(user, JobStatus.CANCELLED, 40)
    BackgroundJobEvent.objects.create(job=old_done, action="x", status_before="queued", status_after="completed")
    recent_done = _row(user, JobStatus.COMPLETED, 29)
    failed_60 = _row(user, JobStatus.FAILED, 60)
    failed_91 = _row(user, JobStatus.FAILED, 91)
    queued = _row(user, JobStatus.QUEUED, 0)
    BackgroundJob.objects.filter(pk=queued.pk).update(created_at=timezone.now() - timedelta(days=365))
    old_key = IdempotencyKey.objects.create(user=user, key="a", endpoint="/x", fingerprint="f")
    IdempotencyKey.objects.filter(pk=old_key.pk).update(created_at=timezone.now() - timedelta(hours=49))
    IdempotencyKey.objects.create(user=user, key="b", endpoint="/x", fingerprint="f")

    assert background_jobs_prune_finished() == {"finished_rows": 2, "failed_rows": 1, "idempotency_keys": 1}
    left = set(BackgroundJob.objects.values_list("pk", flat=True))
    assert left == {recent_done.pk, failed_60.pk, queued.pk}
    assert not BackgroundJobEvent.objects.exists()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["b"]
    assert failed_91.pk not in left and old_cancelled.pk not in left


def test_a_pass_deletes_at_most_limit_rows_per_kind(user):
    for _ in range(3):
        _row(user, JobStatus.COMPLETED, 100)
    assert background_jobs_prune_finished(limit=2)["finished_rows"] == 2
    assert background_jobs_prune_finished(limit=2)["finished_rows"] == 1
