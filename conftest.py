"""Shared fixtures: API clients, a real Redis for worker tests, fakeredis for unit tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent


def _redis_is_disposable(connection) -> bool:
    # Tests flush the Redis database they use. Only do that on a throwaway
    # server (make test) or on a database other than 0 (.ci/run uses /9).
    if os.environ.get("SCRIBES_THROWAWAY_REDIS") == "1":
        return True
    return int(connection.connection_pool.connection_kwargs.get("db", 0)) != 0


@pytest.fixture
def redis_conn():
    """The real Redis from REDIS_URL, emptied before and after the test."""
    import django_rq

    from common import queues

    connection = django_rq.get_connection(queues.SYSTEM)
    if not _redis_is_disposable(connection):
        pytest.fail("Refusing to flush Redis database 0 of a shared server; point REDIS_URL at another db (e.g. /9).")
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def fake_redis(monkeypatch):
    """Point django-rq (queues, workers, selectors) at an in-memory fakeredis."""
    import django_rq.queues
    import fakeredis

    server = fakeredis.FakeServer()
    connection = fakeredis.FakeRedis(server=server)
    monkeypatch.setattr(django_rq.queues, "get_connection", lambda *args, **kwargs: connection)
    monkeypatch.setattr("django_rq.get_connection", lambda *args, **kwargs: connection, raising=False)
    return connection


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", email="alice@example.com", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", email="bob@example.com", password="pw-bob-123")


def _bearer_client(user):
    from rest_framework.test import APIClient

    from scribes.services import user_token_issue

    token, _ = user_token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_client(user):
    return _bearer_client(user)


@pytest.fixture
def other_client(other_user):
    return _bearer_client(other_user)


@pytest.fixture
def subprocess_env():
    """Environment for a `manage.py` child process that must see the test database."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "scribes.settings"
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(name)
    else:
        parts = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def manage_py():
    return [sys.executable, str(ROOT / "manage.py")]


@pytest.fixture(autouse=True)
def _email_locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def pytest_report_header(config):
    from common.env import mask_url

    return [
        f"scribes: database={settings.DATABASES['default']['ENGINE']} redis={mask_url(settings.REDIS_URL) or 'UNSET'}"
    ]


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    # Throttle counters live in the cache; a per-test local cache keeps one
    # test's requests from counting against the next.
    import uuid

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"test-{uuid.uuid4()}"}
    }
