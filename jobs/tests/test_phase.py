"""The indexed `phase` stands in for status: status_in() finds the same rows, queries keep an index,
and the claim (queued → running) is an update in place that writes no index entry."""

import io
import itertools
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import hotpath, reconciler, selectors, services
from jobs.metrics import JobsCollector
from jobs.models import ACTIVE_PHASE, ACTIVE_STATUSES, BackgroundJob, JobStatus, status_in
from reminders.selectors import sweep_last_run
from scribes import queues

TABLE = BackgroundJob._meta.db_table
#: A partial index holds only the rows of its condition: reading it whole is reading those few rows.
PARTIAL_INDEXES = {index.name for index in BackgroundJob._meta.indexes if index.condition is not None}

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="plans and HOT updates are PostgreSQL's (production)"
)


@pytest.fixture
def one_of_each(user):
    """One row per status, an hour old, started and finished where the status says so."""
    long_ago = timezone.now() - timedelta(hours=1)
    rows = {}
    for status in JobStatus.values:
        row = BackgroundJob.objects.create(job_type="test_progress", queue=queues.DEFAULT, user=user, status=status)
        BackgroundJob.objects.filter(pk=row.pk).update(
            created_at=long_ago,
            started_at=None if status == JobStatus.QUEUED else long_ago,
            completed_at=long_ago if status not in ACTIVE_STATUSES else None,
        )
        rows[status] = row
    return rows


@pytest.mark.django_db
def test_phase_is_active_while_queued_or_running_then_the_status(one_of_each):
    phases = dict(BackgroundJob.objects.values_list("status", "phase"))
    assert phases == {
        "queued": ACTIVE_PHASE,
        "running": ACTIVE_PHASE,
        "completed": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
    }
    row = one_of_each[JobStatus.RUNNING]
    BackgroundJob.objects.filter(pk=row.pk).update(status=JobStatus.FAILED)
    row.refresh_from_db()
    assert row.phase == "failed"


@pytest.mark.django_db
def test_status_in_finds_exactly_the_rows_of_those_statuses(one_of_each):
    for size in range(1, len(JobStatus.values) + 1):
        for statuses in itertools.combinations(JobStatus.values, size):
            found = set(BackgroundJob.objects.filter(status_in(*statuses)).values_list("status", flat=True))
            assert found == set(statuses), statuses


def test_status_in_needs_a_status():
    with pytest.raises(ValueError):
        status_in()


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
        selectors.background_job_failures_since(since=now - timedelta(days=1))
        selectors.background_job_average_seconds_by_type()
        list(selectors.background_job_stuck(running_for_minutes=30, queued_for_minutes=30))
        user = BackgroundJob.objects.exclude(user=None).values_list("user", flat=True).first()
        selectors.background_job_active_for_user(user=user, job_type="test_progress")
        list(selectors.background_job_list_for_user(user=user, status=JobStatus.FAILED))
        list(JobsCollector().collect())
        sweep_last_run()
        services.background_jobs_prune_periodic(before=now - timedelta(days=30))
        call_command("fail_stuck_jobs", "--dry-run", stdout=io.StringIO())
        reconciler.background_jobs_reconcile(dry_run=True)
    return [
        sql
        for sql in (query["sql"] for query in captured.captured_queries)
        if sql.startswith("SELECT")
        and f'FROM "{TABLE}"' in sql
        and any(column in sql.partition(" WHERE ")[2] for column in ('"status"', '"phase"'))
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
def test_a_bare_status_filter_reads_the_whole_table(one_of_each):
    """The check above can fail: without status_in() the planner has no index to use."""
    with CaptureQueriesContext(connection) as captured:
        list(BackgroundJob.objects.filter(status=JobStatus.FAILED).order_by("-created_at"))
    assert _unindexed_scans(captured.captured_queries[0]["sql"]) != []


def _updates() -> tuple[int, int]:
    """(updates, of which HOT) made to the jobs table in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", [TABLE])
        row = cursor.fetchone()
    return (0, 0) if row is None else row


@postgresql_only
@pytest.mark.django_db
def test_the_claim_writes_no_index_entry_and_the_completion_does():
    row = BackgroundJob.objects.create(job_type="test_progress", queue=queues.DEFAULT)
    before = _updates()
    claimed = hotpath.claim(job_id=row.pk, now=timezone.now())
    assert claimed.status == JobStatus.RUNNING
    after_claim = _updates()
    assert (after_claim[0] - before[0], after_claim[1] - before[1]) == (1, 1)

    assert hotpath.complete(job_id=row.pk, result={"n": 1}, total=None, now=timezone.now()) == 1
    after_completion = _updates()
    # Finishing changes the phase: a new index entry, as "jobs by status" needs.
    assert (after_completion[0] - after_claim[0], after_completion[1] - after_claim[1]) == (1, 0)
