"""`manage.py rqworker`: project queues by default, banner, a job enqueued via the service runs."""

import subprocess

import pytest

from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401
from scribes import queues

pytestmark = pytest.mark.django_db(transaction=True)


def test_rqworker_without_arguments_listens_on_project_queues_and_prints_banner(
    redis_conn, user, subprocess_env, manage_py
):
    job = background_job_start(job_type="test_progress", user=user, params={"steps": 3})
    result = subprocess.run(
        [*manage_py, "rqworker", "--burst"], env=subprocess_env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Queues: {', '.join(queues.ALL)}" in output
    assert "Job timeout: " in output
    assert "functions: " in output and "Starting worker for " in output
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED


def test_worker_banner_masks_the_redis_password():
    from django.test import override_settings

    from jobs.worker import banner_lines

    with override_settings(REDIS_URL="redis://:hunter2@redis.internal:6379/0"):
        lines = "\n".join(banner_lines(list(queues.ALL)))
    assert "hunter2" not in lines and "redis://:***@redis.internal:6379/0" in lines


def test_rqworker_refuses_unknown_queue(subprocess_env, manage_py):
    result = subprocess.run(
        [*manage_py, "rqworker", "--burst", "arq:queue"], env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "Unknown queue(s) arq:queue" in result.stderr
