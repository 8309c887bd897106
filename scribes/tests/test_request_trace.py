"""One request followed to its job: the X-Request-ID is on the web's log line, on the row, and on the worker's lines.

Real processes: the web process (uvicorn, as the Procfile runs it) and `manage.py
rqworker`, on the test database and a real Redis.
"""

import json

import pytest

from jobs.models import BackgroundJob, JobStatus
from jobs.tests.faultutils import Child
from jobs.tests.utils import wait_for
from live.tests.liveutils import AsgiServer
from notes.models import Note
from scribes.services import user_token_issue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROCESS_ENV = {"SEMANTIC_EMBEDDER": "hashing", "SEMANTIC_AUTO_EMBED": "0", "LOG_LEVEL": "INFO"}
REQUEST_ID = "trace-4f2a-0001"


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_request_id_follows_the_request_to_its_job_and_the_workers_log(
    redis_conn, user, subprocess_env, manage_py, tmp_path, log_format
):
    import http.client

    Note.objects.create(user=user, title="t", content="something to embed")
    env = {**subprocess_env, **PROCESS_ENV, "LOG_FORMAT": log_format}
    web = AsgiServer(env, tmp_path / "web.log")
    worker = Child([*manage_py, "rqworker", "--without-scheduler"], env, tmp_path / "worker.log")
    try:
        token, _ = user_token_issue(user=user)
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
        connection.request(
            "POST",
            "/semantic/regenerate-embeddings",
            body="{}",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Request-ID": REQUEST_ID,
            },
        )
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 202, body
        assert response.getheader("X-Request-ID") == REQUEST_ID
        job_id = body["job_id"]

        row = BackgroundJob.objects.get(pk=job_id)
        assert row.request_id == REQUEST_ID
        wait_for(lambda: BackgroundJob.objects.get(pk=job_id).status == JobStatus.COMPLETED, timeout=60)
        wait_for(lambda: f"job {job_id}" in worker.output() and "completed" in worker.output(), timeout=10)
    finally:
        web.stop()
        worker.stop()

    def lines_about_the_job(output: str) -> list[str]:
        return [line for line in output.splitlines() if job_id in line]

    web_log, worker_log = web.log_path.read_text(), worker.log_path.read_text()
    web_lines, worker_lines = lines_about_the_job(web_log), lines_about_the_job(worker_log)
    assert web_lines and all(REQUEST_ID in line for line in web_lines), web_log
    # The job's own lines (started, completed); RQ's lines around them belong to no request.
    started = [line for line in worker_lines if "jobs.runner" in line]
    assert len(started) >= 2 and all(REQUEST_ID in line for line in started), worker_log
    if log_format == "json":
        assert all(json.loads(line)["request_id"] == REQUEST_ID for line in web_lines + started)
