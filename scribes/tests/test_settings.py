"""Configuration helpers: URL masking, typed env readers, the queue list."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from common import queues
from common.env import database_from_url, env_bool, env_int, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@redis.internal:6380/2", "redis://:***@redis.internal:6380/2"),
        ("redis://user:s3cret@host/0", "redis://user:***@host/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("", ""),
    ],
)
def test_mask_url_hides_passwords(url, masked):
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)


def test_env_readers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    assert env_bool("X_BOOL", False) is True
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 5, minimum=1)
    monkeypatch.setenv("X_INT", "abc")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 5)


def test_rq_queues_are_built_from_the_queue_list(settings):
    assert set(settings.RQ_QUEUES) == set(queues.ALL)
    # Critical first: a one-process worker polls the system queue before model work,
    # and interactive model work (new notes) before bulk (regeneration slices).
    assert queues.ALL == (queues.SYSTEM, queues.SEMANTIC, queues.SEMANTIC_BULK)
    assert queues.PURPOSES["semantic"] == (queues.SEMANTIC, queues.SEMANTIC_BULK)
    assert {name for names in queues.PURPOSES.values() for name in names} == set(queues.ALL)


def _queues_in(env) -> str:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", "from common.queues import ALL; print(*ALL)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_queue_names_come_from_a_prefix_or_an_override(subprocess_env):
    # Two deployments share one Redis by giving each its own prefix.
    blue = {**subprocess_env, "SCRIBES_QUEUE_PREFIX": "blue"}
    assert _queues_in(blue) == "blue-system blue-semantic blue-semantic-bulk"
    override = {**subprocess_env, "SCRIBES_QUEUE_PREFIX": "blue", "SCRIBES_QUEUE_SEMANTIC": "gpu"}
    assert _queues_in(override) == "blue-system gpu blue-semantic-bulk"
    override["SCRIBES_QUEUE_SEMANTIC_BULK"] = "gpu-bulk"
    assert _queues_in(override) == "blue-system gpu gpu-bulk"


@pytest.mark.parametrize(("database_url", "web_keeps"), [("", "None"), ("postgres://u@127.0.0.1:5432/x", "0")])
def test_the_web_process_borrows_postgres_connections_and_keeps_its_sqlite_file(database_url, web_keeps):
    """PostgreSQL: the web process borrows from its pool and keeps none of its own (the event
    streams' requests each run in a thread of their own). SQLite: its fixed API threads keep the file open."""
    import os
    import subprocess
    import sys

    probe = (
        "import os, django; from django.conf import settings; django.setup(); "
        "print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scribes.settings", "DATABASE_URL": database_url}
    kept = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    asgi = "import scribes.asgi; " + probe
    web = subprocess.run([sys.executable, "-c", asgi], env=env, capture_output=True, text=True, check=True)
    assert kept.stdout.split()[-1] != "0"  # workers and manage.py keep theirs
    assert web.stdout.split()[-1] == web_keeps


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("", "-c TimeZone=UTC"),
        ("?options=-c%20statement_timeout%3D5000", "-c statement_timeout=5000 -c TimeZone=UTC"),
        ("?options=-c%20timezone%3DUTC", "-c timezone=UTC"),  # the operator's own setting wins
    ],
)
def test_postgres_sessions_ask_for_utc_when_they_start(query, options):
    database = database_from_url("postgres://u@127.0.0.1:5432/x" + query, conn_max_age=60)
    assert database["OPTIONS"]["options"] == options
    assert database["CONN_HEALTH_CHECKS"] is True


def test_sqlite_urls_get_no_session_options():
    assert "options" not in database_from_url("sqlite:///var/x.sqlite3", conn_max_age=0).get("OPTIONS", {})


@pytest.mark.django_db
def test_a_new_postgres_connection_spends_no_query_on_its_time_zone():
    """Every ASGI request and every forked job opens a connection: one query fewer each."""
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no session time zone")
    wrapper = connections.create_connection("default")
    # The session as the server starts it, before Django's set-up would fix its zone.
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        assert raw.info.parameter_status("TimeZone") == "UTC"
    finally:
        raw.close()
