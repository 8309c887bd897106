"""On PostgreSQL the worker's claim and completion run as prepared statements, and survive losing them."""

import logging
import subprocess
import sys

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from jobs import hotpath, services
from jobs.models import BackgroundJob, JobStatus
from jobs.services import Completion
from scribes import queues

# Autocommit, as in the worker: a lost statement is sent again only outside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's (SQLite caches its own)"
)


@pytest.fixture(autouse=True)
def _fresh_connection():
    """A new server session per test (no prepared statements yet), and preparing back on afterwards."""
    connection.close()
    yield
    hotpath._unprepared = False
    connection.close()


def _queued(n: int) -> list[BackgroundJob]:
    return [BackgroundJob.objects.create(job_type="test_progress", queue=queues.DEFAULT) for _ in range(n)]


def _work_through(rows: list[BackgroundJob]) -> None:
    """Claim each row while completing the one before, as a busy worker does."""
    previous = None
    for row in rows:
        completing = None if previous is None else Completion(job_id=previous.pk, result={"n": 1}, progress=None)
        previous = services.background_job_start_running(job_id=row.pk, completing=completing)
        assert previous is not None
    services.background_job_record_completion(Completion(job_id=previous.pk, result={"n": 1}, progress=None))


def _kept_cursor():
    """The psycopg cursor the hot path keeps for this thread's connection."""
    return hotpath._kept_cursors[connections["default"]][1]


def _prepared() -> list[tuple[str, int]]:
    """The statements this session has prepared, with how often each ran on a plan of its own or the generic one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return cursor.fetchall()


@postgresql_only
def test_the_claim_and_completion_run_prepared_while_the_orm_is_untouched():
    rows = _queued(8)
    with CaptureQueriesContext(connection) as captured:
        _work_through(rows)
    # Still Django's cursor: each statement is logged and counted.
    assert sum("jobs_backgroundjob" in query["sql"] for query in captured.captured_queries) == len(rows) + 1
    prepared = _prepared()
    combined = [runs for statement, runs in prepared if statement.startswith("WITH done AS (UPDATE")]
    # psycopg prepares from the prepare_threshold-th run (5) on.
    assert combined and combined[0] >= len(rows) - 1 - 5
    assert all("jobs_backgroundjob" in statement for statement, _ in prepared)
    for _ in range(6):  # the ORM binds on the client: never prepared, however often it runs
        list(BackgroundJob.objects.filter(status=JobStatus.COMPLETED))
    assert len(_prepared()) == len(prepared)
    assert set(BackgroundJob.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}


@postgresql_only
def test_the_hot_path_keeps_one_cursor_per_connection_and_builds_a_new_one_after_a_reconnect():
    rows = _queued(6)
    _work_through(rows[:3])
    kept = _kept_cursor()
    _work_through(rows[3:5])
    assert _kept_cursor() is kept and not kept.closed
    connection.close()  # a restart, an idle timeout, CONN_MAX_AGE: the next job reconnects
    row = services.background_job_start_running(job_id=rows[5].pk)
    renewed = _kept_cursor()
    assert renewed is not kept and renewed.connection is connection.connection
    assert row.status == JobStatus.RUNNING and row.started_at.tzinfo is not None
    assert BackgroundJob.objects.filter(status=JobStatus.COMPLETED).count() == 5


@postgresql_only
def test_the_kept_cursor_follows_the_connections_time_zone():
    from django.test import override_settings

    first, second = _queued(2)
    assert services.background_job_start_running(job_id=first.pk).started_at.tzinfo is not None
    # Django re-reads the connection's time zone when USE_TZ changes; the
    # claim must load naive datetimes then, as any Django cursor would.
    with override_settings(USE_TZ=False):
        assert services.background_job_start_running(job_id=second.pk).started_at.tzinfo is None


@postgresql_only
def test_with_prepared_statements_off_nothing_is_prepared():
    connection.settings_dict["OPTIONS"]["prepare_threshold"] = None
    try:
        _work_through(_queued(8))
        assert _prepared() == []
    finally:
        connection.settings_dict["OPTIONS"]["prepare_threshold"] = 5
    assert set(BackgroundJob.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}


@postgresql_only
def test_a_lost_prepared_statement_is_logged_and_the_worker_goes_on_unprepared(caplog):
    first, second = _queued(8), _queued(8)
    _work_through(first)
    assert _prepared()
    # What a transaction-mode pooler does: the next statement lands on a
    # server session that never saw psycopg's PREPARE (psycopg is not told).
    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")
    with caplog.at_level(logging.WARNING, logger="jobs.hotpath"):
        _work_through(second)
    assert set(BackgroundJob.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}
    assert BackgroundJob.objects.filter(attempts=1).count() == len(first) + len(second)
    warnings = [record.getMessage() for record in caplog.records if record.name == "jobs.hotpath"]
    assert len(warnings) == 1 and "DATABASE_PREPARED_STATEMENTS=0" in warnings[0]
    assert hotpath._unprepared
    assert _prepared() == []
    # A new connection of this process does not prepare either.
    connection.close()
    _work_through(_queued(8))
    assert _prepared() == []


@postgresql_only
def test_inside_a_transaction_a_lost_prepared_statement_is_an_error():
    from django.db import DatabaseError, transaction

    rows = _queued(8)
    for row in rows[:7]:
        services.background_job_start_running(job_id=row.pk)  # the claim alone, prepared from the 5th
    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        services.background_job_start_running(job_id=rows[7].pk)
    assert not hotpath._unprepared
    assert BackgroundJob.objects.get(pk=rows[7].pk).status == JobStatus.QUEUED


@pytest.mark.parametrize(("value", "threshold"), [("1", 5), ("0", None)])
def test_database_prepared_statements_sets_psycopgs_threshold(subprocess_env, value, threshold):
    env = {
        **subprocess_env,
        "DATABASE_URL": "postgres://u@db.internal:5432/scribes",
        "DATABASE_PREPARED_STATEMENTS": value,
    }
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(threshold)


@postgresql_only
@pytest.mark.parametrize(("use_tz", "time_zone"), [(True, "UTC"), (True, "Asia/Kolkata"), (False, "Asia/Kolkata")])
def test_the_claim_loads_timestamps_exactly_as_the_orm_does(use_tz, time_zone):
    from django.test import override_settings

    with override_settings(USE_TZ=use_tz, TIME_ZONE=time_zone):
        row = _queued(1)[0]
        claimed = services.background_job_start_running(job_id=row.pk)
        loaded = BackgroundJob.objects.get(pk=row.pk)
        for name in ("created_at", "started_at", "updated_at"):
            ours, orms = getattr(claimed, name), getattr(loaded, name)
            assert (ours, ours.tzinfo) == (orms, orms.tzinfo), name
        assert claimed.completed_at is None


@postgresql_only
@pytest.mark.parametrize(
    "text",
    [
        b"2026-11-29 14:00:00+00",
        b"2026-11-29 14:00:00.5+05:30",
        b"1900-01-01 00:00:00+00:09:21",
        b"9999-12-31 23:00:00-05",
        b"infinity",
        b"10000-01-01 00:00:00+00",
        b"0044-03-15 12:00:00+00 BC",
    ],
)
def test_the_hot_paths_timestamp_loader_agrees_with_djangos(text):
    """fromisoformat where it can, else Django's own loader: the same value or the same error."""
    from datetime import UTC

    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, register_tzloader

    connection.ensure_connection()
    with connection.connection.cursor() as django_cursor:
        register_tzloader(UTC, django_cursor)
        djangos = django_cursor.adapters.get_loader(TIMESTAMPTZ_OID, 0)(TIMESTAMPTZ_OID, django_cursor)
        ours = hotpath._iso_tz_loader(UTC)(TIMESTAMPTZ_OID, django_cursor)

        def outcome(loader):
            try:
                value = loader.load(text)
            except Exception as exc:  # the error is what is compared
                return type(exc)
            return value, value.tzinfo

        assert outcome(ours) == outcome(djangos)
        # The fast path is in use (else the claim silently parses at psycopg's pace again).
        assert ours._session_tz is not None
        ours._session_tz = None  # a psycopg that no longer keeps the session's time zone
        assert outcome(ours) == outcome(djangos)
