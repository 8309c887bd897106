"""Reads on BackgroundJob rows that the apps' views and services make (the operator facts are operations.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import ACTIVE_STATUSES, BackgroundJob


def background_job_get_for_user(*, user, job_id) -> BackgroundJob | None:
    return BackgroundJob.objects.filter(pk=job_id, user=user).first()


def background_job_list_for_user(*, user, status: str | None = None, job_type: str | None = None) -> QuerySet:
    jobs = BackgroundJob.objects.filter(user=user).order_by("-created_at")
    if status:
        jobs = jobs.filter(status=status)
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    return jobs


def background_job_active_for_user(*, user, job_type: str) -> BackgroundJob | None:
    return (
        BackgroundJob.objects.filter(status__in=ACTIVE_STATUSES, user=user, job_type=job_type)
        .order_by("-created_at")
        .first()
    )
