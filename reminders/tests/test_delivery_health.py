"""/health, doctor and /metrics say when reminder delivery fails tick after tick, or a periodic job fails
or is overdue (a real SMTP server refusing, a real Redis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from common.diagnostics import FAIL, OK, WARN
from jobs.models import BackgroundJob, JobStatus
from operations.diagnostics.infrastructure import check_scheduler
from reminders import services
from reminders.diagnostics import reminder_delivery_finding
from reminders.tests.smtpserver import smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def metrics_get(client, settings):
    settings.METRICS_TOKEN = "metrics-test-token"
    return lambda: client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-test-token").content.decode()


@pytest.fixture
def refusing_smtp(settings):
    with smtp_server() as (handler, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
        # Every tick tries again at once, and no tick waits out the refusal.
        settings.REMINDER_TEMPFAIL_RETRY_SECONDS = 0
        settings.REMINDER_TEMPFAIL_BACKOFF_SECONDS = 0
        handler.refuse_until = float("inf")
        yield handler


def _delivery_problems(api_client) -> tuple[str, list[str]]:
    body = api_client.get("/health").json()
    return body["status"], [line for line in body["problems"] if "reminder delivery" in line]


def test_three_failing_ticks_make_health_degraded_naming_reminder_delivery(
    api_client, redis_conn, refusing_smtp, make_due, metrics_get
):
    make_due(3)
    for tick in (1, 2):
        assert services.reminder_sweep_run()["sent"] == 0
        assert _delivery_problems(api_client)[1] == [], f"named after {tick} tick(s)"
        assert reminder_delivery_finding().level == WARN
    assert services.reminder_sweep_run()["failed"] == 3
    status, lines = _delivery_problems(api_client)
    assert status == "degraded"
    assert lines == [
        "reminder delivery failing: 3 sweeps in a row sent nothing (SMTPDataError); `manage.py doctor` shows the error"
    ]
    assert api_client.get("/health").json()["reminder_delivery"] == "failing"
    assert "451" not in str(api_client.get("/health").json())  # the server's words stay out of /health
    finding = reminder_delivery_finding()
    assert finding.level == FAIL and "451" in finding.message and "REMINDER_SEND_RATE" in finding.fix
    assert "scribes_reminder_delivery_failing_ticks 3.0" in metrics_get()

    # The server accepts again: the next tick sends, and the problem is gone.
    refusing_smtp.refuse_until = 0
    assert services.reminder_sweep_run()["sent"] == 3
    assert _delivery_problems(api_client)[1] == []
    assert api_client.get("/health").json()["reminder_delivery"] == "ok"
    assert reminder_delivery_finding().level == OK
    text = metrics_get()
    assert "scribes_reminder_delivery_failing_ticks 0.0" in text
    assert "scribes_reminder_delivery_failures_total 9.0" in text
    assert "scribes_reminder_delivery_sent_total 3.0" in text


def test_a_quiet_tick_does_not_end_a_failing_streak(api_client, redis_conn, refusing_smtp, make_due):
    from reminders.models import Reminder

    make_due(1)
    for _ in range(3):
        services.reminder_sweep_run()
    Reminder.objects.all().delete()
    assert services.reminder_sweep_run()["due"] == 0  # proves nothing about the mail server
    assert _delivery_problems(api_client)[1] != []


def _run(job_type: str, status: str, *, minutes_ago: int, error: str = "") -> BackgroundJob:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return BackgroundJob.objects.create(
        rq_job_id=f"periodic:{job_type}",
        job_type=job_type,
        queue="scribes-system",
        status=status,
        started_at=at,
        completed_at=at + timedelta(seconds=1),
        error_message=error,
    )


def test_a_periodic_job_failing_its_last_runs_makes_health_degraded(api_client, redis_conn):
    _run("jobs_reconcile", JobStatus.COMPLETED, minutes_ago=3)
    _run("jobs_reconcile", JobStatus.FAILED, minutes_ago=2, error="OperationalError: database is locked")
    body = api_client.get("/health").json()
    assert not any("jobs_reconcile" in line for line in body["problems"])  # one failure is a blip
    _run("jobs_reconcile", JobStatus.FAILED, minutes_ago=1, error="OperationalError: database is locked")
    body = api_client.get("/health").json()
    assert body["status"] == "degraded"
    assert (
        "periodic task jobs_reconcile failed its last 2 runs (`manage.py doctor` shows the error)" in body["problems"]
    )
    assert body["periodic"]["jobs_reconcile"] == {"failing": True, "overdue": False}
    (finding,) = [f for f in check_scheduler() if f.name == "periodic:jobs_reconcile"]
    assert finding.level == FAIL and "database is locked" in finding.message


def test_an_overdue_periodic_job_makes_health_degraded(api_client, redis_conn, settings):
    settings.REMINDER_SWEEP_CRON = "* * * * *"
    _run("reminder_sweep", JobStatus.COMPLETED, minutes_ago=2)
    assert not any("reminder_sweep" in line for line in api_client.get("/health").json()["problems"])
    BackgroundJob.objects.all().delete()
    _run("reminder_sweep", JobStatus.COMPLETED, minutes_ago=10)
    body = api_client.get("/health").json()
    assert body["status"] == "degraded"
    (line,) = [line for line in body["problems"] if "reminder_sweep" in line]
    assert line.startswith("periodic task reminder_sweep is overdue: last finished ") and "every 60 s" in line
    (finding,) = [f for f in check_scheduler() if f.name == "periodic:reminder_sweep"]
    assert finding.level == FAIL and "rqscheduler" in finding.fix
