"""The pool's arithmetic and its refusals, in-process (the real-process tests are in test_load.py)."""

import pytest
from django.db import OperationalError
from psycopg_pool import PoolTimeout

from scribes import dbpool
from scribes.checks import check_pool_fits_the_server, check_web_threads_fit_the_pool


def _pool_timeout() -> OperationalError:
    """What Django raises when the pool has no connection in time: its OperationalError from PoolTimeout."""
    try:
        try:
            raise PoolTimeout("couldn't get a connection after 5.00 sec")
        except PoolTimeout as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        return wrapped


def test_the_pool_timeout_is_recognised_through_djangos_wrapper():
    assert dbpool.is_pool_exhausted(_pool_timeout())
    assert not dbpool.is_pool_exhausted(OperationalError("FATAL: password authentication failed"))
    assert not dbpool.is_pool_exhausted(None)


def test_pools_that_fit_are_no_problem_and_those_that_do_not_say_what_to_change():
    fits = dict(max_connections=100, reserved_connections=3, web_processes=3, pool_max_size=20, other_connections=7)
    assert dbpool.pool_capacity_problem(**fits) is None
    problem, hint = dbpool.pool_capacity_problem(**{**fits, "web_processes": 5})
    assert "5 web process(es) x DB_POOL_MAX_SIZE=20 + 7" in problem and "107" in problem and "97" in problem
    assert "DB_POOL_MAX_SIZE to 18" in hint and "max_connections" in hint


@pytest.mark.django_db
def test_the_database_check_warns_when_the_pools_cannot_fit(monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    assert check_pool_fits_the_server(None, databases=["default"]) == []
    monkeypatch.setenv("WEB_CONCURRENCY", "1000")
    [warning] = check_pool_fits_the_server(None, databases=["default"])
    assert warning.id == "scribes.W001" and "WEB_CONCURRENCY" in warning.hint
    assert check_pool_fits_the_server(None) == []  # no database asked for: no query


def test_more_api_threads_than_pooled_connections_is_a_warning_with_a_hint(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PostgreSQL only: the web process pools its connections there")
    settings.DB_POOL, settings.DB_POOL_MAX_SIZE, settings.WEB_THREADS = True, 10, 10
    assert check_web_threads_fit_the_pool(None) == []
    settings.WEB_THREADS = 11
    [warning] = check_web_threads_fit_the_pool(None)
    assert warning.id == "scribes.W002" and "WEB_THREADS (11)" in warning.msg and "DB_POOL_MAX_SIZE" in warning.hint
    settings.DB_POOL = False  # no pool: each thread opens its own connection
    assert check_web_threads_fit_the_pool(None) == []


@pytest.mark.django_db
def test_a_request_that_gets_no_pooled_connection_is_a_503_with_retry_after(auth_client, monkeypatch):
    from notes import apis

    def busy(*args, **kwargs):
        raise _pool_timeout()

    monkeypatch.setattr(apis.NoteListApi, "get", busy)
    response = auth_client.get("/notes")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["detail"] == dbpool.BUSY_DETAIL


@pytest.mark.django_db
def test_a_plain_django_view_that_gets_no_connection_is_a_503_too(client, monkeypatch):
    from scribes import apis

    def busy(*args, **kwargs):
        raise _pool_timeout()

    monkeypatch.setattr(apis.HealthApi, "get", busy)
    response = client.get("/health")
    assert response.status_code == 503 and response["Retry-After"]


def test_the_500_handler_answers_503_for_a_pool_timeout_raised_outside_a_view(rf):
    from scribes.handlers import json_server_error

    try:
        raise _pool_timeout()
    except OperationalError:
        response = json_server_error(rf.get("/"))
    assert response.status_code == 503 and response["Retry-After"]
    assert json_server_error(rf.get("/")).status_code == 500


def test_doctor_reports_whether_the_pools_fit_and_what_to_change(monkeypatch, settings):
    from common.diagnostics import FAIL, OK
    from scribes import dbpool

    settings.DB_POOL = 1
    monkeypatch.setattr(dbpool, "configured_pool_problem", lambda connection: None)
    monkeypatch.setattr("django.db.connection.vendor", "postgresql")
    assert dbpool.check_pool_capacity().level == OK
    monkeypatch.setattr(dbpool, "configured_pool_problem", lambda connection: ("too many", "lower DB_POOL_MAX_SIZE"))
    finding = dbpool.check_pool_capacity()
    assert (finding.level, finding.message, finding.fix) == (FAIL, "too many", "lower DB_POOL_MAX_SIZE")
