"""`manage.py rqworker`: project queues by default, banner, a job enqueued via the service runs."""

import subprocess

import pytest

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401

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


def test_system_worker_never_imports_torch_even_with_the_real_model_configured(
    redis_conn, user, subprocess_env, manage_py
):
    # The production embedder (minilm), not hashing: the system worker must skip its warm-up.
    env = {**subprocess_env, "SEMANTIC_EMBEDDER": "minilm"}
    job = background_job_start(job_type="test_modules", user=user)
    result = subprocess.run(
        [*manage_py, "rqworker", "--burst", "--purpose", "system"], env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert any(line.endswith(f"Queues: {queues.SYSTEM}") for line in output.splitlines()), output
    semantic = ", ".join(queues.PURPOSES["semantic"])
    assert f"Warm-up semantic: not loaded (this worker serves none of {semantic})" in output
    assert "Runs jobs: in this process (no fork) (ScribesSimpleWorker)" in output
    row = BackgroundJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.COMPLETED, output
    assert row.result_data == {"torch": False, "sentence_transformers": False}


def test_rqworker_purpose_semantic_listens_on_the_model_queue_only(subprocess_env, manage_py, redis_conn):
    env = {**subprocess_env, "SEMANTIC_EMBEDDER": "hashing"}
    result = subprocess.run(
        [*manage_py, "rqworker", "--burst", "--purpose", "semantic"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Interactive embeds first, then regeneration slices: the order RQ's default dequeue follows.
    expected = f"Queues: {queues.SEMANTIC}, {queues.SEMANTIC_BULK}"
    assert any(line.endswith(expected) for line in output.splitlines()), output
    assert "Warm-up semantic: loaded before the first job" in output
    assert "Runs jobs: in a work-horse forked per job (ScribesWorker)" in output
