"""The operator dashboard: the rollup, the figures it shows, its query budget, pause/resume from the page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.pausing import paused_queues
from operations.dashboard import WINDOWS, dashboard_series
from operations.models import JobStatsBucket, OperatorAction
from operations.stats import BOUNDS, empty_histogram, histogram_add, histogram_quantile, job_stats_roll_up

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:operations_jobdashboard_changelist"


def _finished(n, *, minutes_ago, status=JobStatus.COMPLETED, job_type="semantic_regenerate", wait=2.0, run=10.0):
    now = timezone.now()
    done = now - timedelta(minutes=minutes_ago)
    rows = [
        BackgroundJob(
            job_type=job_type,
            rq_job_id=f"r{index}",
            queue=queues.SYSTEM,
            status=status,
            started_at=done - timedelta(seconds=run),
            completed_at=done,
        )
        for index in range(n)
    ]
    BackgroundJob.objects.bulk_create(rows)
    # created_at is auto_now_add: set the wait explicitly.
    BackgroundJob.objects.filter(pk__in=[row.pk for row in rows]).update(
        created_at=done - timedelta(seconds=run + wait)
    )


def test_histogram_quantiles_interpolate_inside_a_bin():
    histogram = empty_histogram()
    assert histogram_quantile(histogram, 0.5) is None
    for _ in range(100):
        histogram_add(histogram, 7.0)  # the (5, 10] bin
    assert 5 < histogram_quantile(histogram, 0.5) <= 10
    histogram_add(histogram, 10_000)
    assert histogram_quantile(histogram, 1.0) == BOUNDS[-1]


def test_rollup_buckets_rows_and_the_series_counts_them_once(redis_conn):
    _finished(3, minutes_ago=30)
    _finished(2, minutes_ago=30, status=JobStatus.FAILED)
    _finished(4, minutes_ago=0.1)  # after the rollup's lag: read from the rows
    assert job_stats_roll_up() >= 1
    job_stats_roll_up()  # a second pass replaces, never adds
    bucket_totals = sum(bucket.completed + bucket.failed for bucket in JobStatsBucket.objects.filter(span=300))
    assert bucket_totals == 5

    series = dashboard_series(window=WINDOWS["1h"])
    assert series["totals"] == {"completed": 7, "failed": 2}
    (row,) = series["by_type"]
    assert row["completed"] == 7 and row["failed"] == 2
    assert 1 < row["wait_p50"] <= 2.5 and 5 < row["run_p95"] <= 10
    assert dashboard_series(window=WINDOWS["1h"], job_type="other")["totals"] == {"completed": 0, "failed": 0}


def test_old_buckets_are_pruned(redis_conn):
    _finished(1, minutes_ago=60 * 24 * 9)
    _finished(1, minutes_ago=90)
    job_stats_roll_up()
    # one five-minute bucket and the closed hour it belongs to
    assert sorted(JobStatsBucket.objects.values_list("span", flat=True)) == [300, 3600]


def test_day_and_week_read_closed_hours_and_agree_with_the_hour_view(redis_conn):
    for minutes in (3, 20, 50, 130, 400):
        _finished(2, minutes_ago=minutes)
    _finished(1, minutes_ago=0.1)
    job_stats_roll_up()
    assert JobStatsBucket.objects.filter(span=3600).exists()
    expected = {"completed": 11, "failed": 0}
    assert dashboard_series(window=WINDOWS["24h"])["totals"] == expected
    assert dashboard_series(window=WINDOWS["7d"])["totals"] == expected
    assert dashboard_series(window=WINDOWS["1h"])["totals"] == {"completed": 7, "failed": 0}


def _page_queries(admin_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse(DASHBOARD), {"window": "7d"})
    assert response.status_code == 200
    return len(captured)


def test_dashboard_query_count_does_not_depend_on_the_number_of_rows(
    admin_client, redis_conn, django_assert_max_num_queries
):
    _finished(2, minutes_ago=90)
    job_stats_roll_up()
    few = _page_queries(admin_client, django_assert_max_num_queries)
    for minutes in (5, 200, 2000, 6000):
        _finished(20, minutes_ago=minutes)
        _finished(5, minutes_ago=minutes, status=JobStatus.FAILED, job_type="reminder_sweep")
    BackgroundJob.objects.bulk_create(
        [BackgroundJob(job_type="semantic_regenerate", rq_job_id="q", queue=queues.SYSTEM) for _ in range(30)]
    )
    job_stats_roll_up()
    _finished(7, minutes_ago=0.2)  # a tail since the last pass
    many = _page_queries(admin_client, django_assert_max_num_queries)
    assert many == few


def test_dashboard_is_linked_from_the_index_and_shows_live_counts_and_charts(admin_client, redis_conn):
    _finished(3, minutes_ago=10)
    _finished(1, minutes_ago=10, status=JobStatus.FAILED)
    BackgroundJob.objects.create(job_type="semantic_regenerate", rq_job_id="x", queue=queues.SYSTEM)
    assert reverse(DASHBOARD) in admin_client.get(reverse("admin:index")).content.decode()
    html = admin_client.get(reverse(DASHBOARD), {"window": "1h"}).content.decode()
    assert 'http-equiv="refresh"' in html
    # three server-drawn charts, nothing fetched from elsewhere
    assert html.count('<svg class="console-chart"') == 3 and 'src="http' not in html
    assert "3 completed, 1 failed" in html
    assert f'id="queue-{queues.SYSTEM}"' in html and "Pause" in html
    # bad filter values are ignored, not a 500
    assert admin_client.get(reverse(DASHBOARD), {"window": "x", "queue": "<b>", "job_type": "?"}).status_code == 200


def test_pause_and_resume_from_the_dashboard_need_post_and_the_change_permission(
    admin_client, client, django_user_model, redis_conn
):
    url = reverse("admin:operations_jobdashboard_queue", args=[queues.SYSTEM, "pause"])
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, {"reason": "deploy"}, follow=True)
    assert "paused" in response.content.decode()
    assert paused_queues()[queues.SYSTEM]["reason"] == "deploy"
    assert "console-paused" in admin_client.get(reverse(DASHBOARD)).content.decode()
    admin_client.post(reverse("admin:operations_jobdashboard_queue", args=[queues.SYSTEM, "resume"]))
    assert paused_queues() == {}
    assert list(OperatorAction.objects.values_list("action", flat=True).order_by("id")) == [
        "queue_pause",
        "queue_resume",
    ]

    staff = django_user_model.objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    client.force_login(staff)
    assert client.post(url).status_code == 403
    assert paused_queues() == {}


def test_job_audit_events_are_listed_and_searchable(admin_client, admin_user):
    from jobs.models import BackgroundJobEvent

    job = BackgroundJob.objects.create(job_type="semantic_regenerate", rq_job_id="e", queue=queues.SYSTEM)
    BackgroundJobEvent.objects.create(
        job=job, actor=admin_user, source="admin", action="mark_failed", reason="stuck", status_before="running",
        status_after="failed",
    )  # fmt: skip
    BackgroundJobEvent.objects.create(job=job, action="retry", status_before="failed", status_after="queued")
    found = admin_client.get(reverse("admin:jobs_backgroundjobevent_changelist"), {"q": "stuck"})
    assert [event.action for event in found.context["cl"].result_list] == ["mark_failed"]
    assert str(job.job_id)[:8] in found.content.decode()
