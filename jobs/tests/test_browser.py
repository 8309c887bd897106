"""The admin in a real browser: headless Debian Chromium driven by Playwright.

Logs in, opens the job list, runs "mark failed" on a stuck job and sees the
result; the screenshot lands in test-artifacts/ (kept by CI).
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.models import BackgroundJob, JobStatus
from scribes import queues

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_admin_marks_a_stuck_job_failed_in_chromium(live_server, django_user_model, redis_conn, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # below happen before it starts and after it stops, so this only quiets
    # Django's guard for the live server's own thread-safe use.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-pass-123")
    stuck = BackgroundJob.objects.create(
        job_type="test_progress",
        queue=queues.SYSTEM,
        status=JobStatus.RUNNING,
        started_at=timezone.now() - timedelta(hours=2),
        attempts=1,
    )
    BackgroundJob.objects.filter(pk=stuck.pk).update(rq_job_id=str(stuck.job_id))
    done = BackgroundJob.objects.create(job_type="test_progress", queue=queues.SYSTEM, status=JobStatus.COMPLETED)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{live_server.url}/admin/login/?next=/admin/jobs/backgroundjob/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", "ops-pass-123")
            page.click("input[type=submit]")
            page.wait_for_selector("#result_list")
            assert page.locator("#result_list tbody tr").count() == 2
            row = page.locator("#result_list tbody tr", has_text=str(stuck.job_id))
            assert row.locator(".job-status").inner_text() == "Running"

            page.check(f"input[name=_selected_action][value='{stuck.pk}']")
            page.select_option("select[name=action]", "mark_failed")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist")
            assert "1 job(s) marked failed." in page.locator(".messagelist").inner_text()
            row = page.locator("#result_list tbody tr", has_text=str(stuck.job_id))
            assert row.locator(".job-status").inner_text() == "Failed"
            page.screenshot(path=str(ARTIFACTS / "admin-mark-failed.png"), full_page=True)

            page.click(f"a[href*='{stuck.pk}']")
            page.wait_for_selector(".rq-state, .rq-agree, .rq-mismatch")
            assert "Marked failed by ops from the admin" in page.content()
            page.screenshot(path=str(ARTIFACTS / "admin-job-detail.png"), full_page=True)
        finally:
            browser.close()

    stuck.refresh_from_db()
    done.refresh_from_db()
    assert stuck.status == JobStatus.FAILED and done.status == JobStatus.COMPLETED
    assert stuck.events.get().actor.username == "ops"
