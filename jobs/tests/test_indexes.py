"""Every operator query by status keeps an index (a plain `filter(status=...)` is all it takes)."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import queues
from jobs import reconciler, selectors
from jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from operations import selectors as operator_selectors
from operations.metrics import JobsCollector
from operations.retention import background_jobs_prune_periodic
from reminders.selectors import sweep_last_run

TABLE = BackgroundJob._meta.db_table
#: A partial index holds only the rows of its condition: reading it whole is reading those few rows.
PARTIAL_INDEXES = {index.name for index in BackgroundJob._meta.indexes if index.condition is not None}

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans are PostgreSQL's (production)"
)


@pytest.fixture
def one_of_each(user):
    """One row per status, an hour old, started and finished where the status says so."""
    long_ago = timezone.now() - timedelta(hours=1)
    rows = {}
    for status in JobStatus.values:
        row = BackgroundJob.objects.create(job_type="test_progress", queue=queues.SYSTEM, user=user, status=status)
        BackgroundJob.objects.filter(pk=row.pk).update(
            created_at=long_ago,
            started_at=None if status == JobStatus.QUEUED else long_ago,
            completed_at=long_ago if status not in ACTIVE_STATUSES else None,
        )
        rows[status] = row
    return rows


def _scans(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _unindexed_scans(sql: str) -> list[str]:
    """The scans of the jobs table in `sql`'s plan that read it whole (sequential scans
    are priced out, so a query no index serves shows as a scan of a full index without a condition)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    bad = []
    for node in _scans(plan[0]["Plan"]):
        if node.get("Relation Name") != TABLE and not node.get("Index Name", "").startswith("bgjob_"):
            continue
        if node["Node Type"] == "Seq Scan" or (
            node["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
            and "Index Cond" not in node
            and node["Index Name"] not in PARTIAL_INDEXES
        ):
            bad.append(f"{node['Node Type']} {node.get('Index Name', '')}: {node.get('Filter', '')}")
    return bad


def _operator_queries(admin_client) -> list[str]:
    """The SELECTs on the jobs table that filter by status: every operator screen, recipe and sweep."""
    now = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        for status in JobStatus.values:
            assert admin_client.get(f"/admin/jobs/backgroundjob/?status={status}").status_code == 200
        operator_selectors.background_job_failures_since(since=now - timedelta(days=1))
        operator_selectors.background_job_average_seconds_by_type()
        list(operator_selectors.background_job_stuck(running_for_minutes=30, queued_for_minutes=30))
        user = BackgroundJob.objects.exclude(user=None).values_list("user", flat=True).first()
        selectors.background_job_active_for_user(user=user, job_type="test_progress")
        list(selectors.background_job_list_for_user(user=user, status=JobStatus.FAILED))
        list(JobsCollector().collect())
        sweep_last_run()
        background_jobs_prune_periodic(now=now - timedelta(days=30))
        call_command("fail_stuck_jobs", "--dry-run", stdout=io.StringIO())
        reconciler.background_jobs_reconcile(dry_run=True)
    return [
        sql
        for sql in (query["sql"] for query in captured.captured_queries)
        if sql.startswith("SELECT") and f'FROM "{TABLE}"' in sql and '"status"' in sql.partition(" WHERE ")[2]
    ]


@postgresql_only
@pytest.mark.django_db
def test_every_query_by_status_is_served_by_an_index(one_of_each, admin_client, redis_conn):
    queries = _operator_queries(admin_client)
    assert len(queries) >= 10
    for sql in queries:
        assert _unindexed_scans(sql) == [], sql


@postgresql_only
@pytest.mark.django_db
def test_a_query_no_index_serves_is_caught(one_of_each):
    """The check above can fail: a filter on an unindexed column reads the whole table."""
    with CaptureQueriesContext(connection) as captured:
        list(BackgroundJob.objects.filter(error_message="x").order_by("-created_at"))
    assert _unindexed_scans(captured.captured_queries[0]["sql"]) != []
