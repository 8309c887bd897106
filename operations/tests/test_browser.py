"""The admin in a real browser: headless Debian Chromium driven by Playwright.

Logs in, opens the job list, runs "mark failed" on a stuck job and sees the
result; opens the operator dashboard, pauses and resumes a queue there, and
reads a failed job's traceback. Screenshots land in test-artifacts/ (kept by CI).
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob, JobStatus

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
            # the list shows short ids; the full one is the title
            row = page.locator("#result_list tbody tr", has_text=str(stuck.job_id)[:8])
            assert row.locator(".job-status").inner_text() == "Running"
            assert row.locator("code").get_attribute("title") == str(stuck.job_id)

            page.check(f"input[name=_selected_action][value='{stuck.pk}']")
            page.select_option("select[name=action]", "mark_failed")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist")
            assert "1 job(s) marked failed." in page.locator(".messagelist").inner_text()
            row = page.locator("#result_list tbody tr", has_text=str(stuck.job_id)[:8])
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


def _login(page, live_server, next_url):
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-pass-123")
    page.click("input[type=submit]")


def test_dashboard_pause_resume_and_a_failed_jobs_traceback_in_chromium(
    live_server, django_user_model, redis_conn, monkeypatch
):
    from playwright.sync_api import sync_playwright

    from jobs.pausing import paused_queues
    from operations.stats import job_stats_roll_up
    from operations.tests.test_dashboard import _finished

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-pass-123")
    for minutes in (5, 50, 200, 700):
        _finished(6, minutes_ago=minutes, run=minutes / 10)
        _finished(1, minutes_ago=minutes, status=JobStatus.FAILED)
    job_stats_roll_up()
    failed = BackgroundJob.objects.create(
        job_type="semantic_regenerate",
        queue=queues.SYSTEM,
        status=JobStatus.FAILED,
        error_message="ValueError: the embedding of note 7 is not finite",
        error_traceback='Traceback (most recent call last):\n  File "semantic/services.py", line 120, in regenerate\n'
        "ValueError: the embedding of note 7 is not finite",
        log="encoding 100 notes\nnote 7 gave NaN",
        completed_at=timezone.now(),
    )
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            _login(page, live_server, "/admin/")
            page.click("a[href='/admin/operations/jobdashboard/']")
            page.wait_for_selector("#outcomes-chart svg")
            assert page.locator("svg.console-chart").count() == 3
            assert page.locator("#outcomes-chart rect").count() > 0
            # four rolled-up failures and the one that just failed (read from the rows)
            assert "24 completed, 5 failed" in page.locator("#totals").inner_text()
            assert page.locator("#by-type tbody tr").count() == 1
            page.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)

            queue_row = page.locator(f"#queue-{queues.SYSTEM}")
            queue_row.locator("input[name=reason]").fill("database maintenance")
            queue_row.locator("input[type=submit][value=Pause]").click()
            page.wait_for_selector(".messagelist")
            assert f"Queue {queues.SYSTEM} paused" in page.locator(".messagelist").inner_text()
            assert "database maintenance" in page.locator(f"#queue-{queues.SYSTEM}").inner_text()
            page.screenshot(path=str(ARTIFACTS / "console-queue-paused.png"), full_page=True)
            assert paused_queues()[queues.SYSTEM]["by"] == "ops"

            page.locator(f"#queue-{queues.SYSTEM} input[type=submit][value=Resume]").click()
            page.wait_for_selector(".messagelist")
            assert f"Queue {queues.SYSTEM} resumed." in page.locator(".messagelist").inner_text()
            assert paused_queues() == {}

            page.goto(f"{live_server.url}/admin/jobs/backgroundjob/{failed.pk}/change/")
            page.wait_for_selector("pre.job-traceback")
            assert 'File "semantic/services.py", line 120' in page.locator("pre.job-traceback").inner_text()
            assert "note 7 gave NaN" in page.locator("pre.job-log").inner_text()
            page.screenshot(path=str(ARTIFACTS / "console-job-traceback.png"), full_page=True)
        finally:
            browser.close()
