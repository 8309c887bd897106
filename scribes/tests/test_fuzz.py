"""Schema-driven fuzzing of the whole API (schemathesis, in-process WSGI, loopback only).

Bounded here (FUZZ_EXAMPLES, default 8 per operation) so CI stays fast; `make fuzz`
runs the same test with many more examples. Asserts: no response >= 500, and
every response's status, content type and body match /schema.

Format-aware: a `date-time` in the schema is generated as real times and as
strings shaped like ISO 8601 whose parts may be impossible (month 13, 30 February,
hour 99, offset +25:00, the edges of years 1 and 9999), which schemathesis's own
generator never makes. Property tests beside it send any such time, and JSON
nested to any depth, to every endpoint that reads a JSON body.
"""

import os
from datetime import UTC

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))


def _digits(n: int):
    return st.integers(0, 10**n - 1).map(lambda value: f"{value:0{n}d}")


#: Well-formed ISO 8601 date-times whose fields are drawn digit by digit, so most are impossible.
ISO_SHAPED_TIMES = st.builds(
    "{}-{}-{}T{}:{}:{}{}".format,
    st.sampled_from(["0001", "2030", "9999"]) | _digits(4),
    st.sampled_from(["01", "02", "12"]) | _digits(2),
    st.sampled_from(["28", "29", "30", "31"]) | _digits(2),
    _digits(2),
    _digits(2),
    _digits(2),
    st.just("Z") | st.builds("{}{}:{}".format, st.sampled_from("+-"), _digits(2), _digits(2)),
)
REAL_TIMES = st.datetimes(timezones=st.just(UTC)).map(lambda value: value.isoformat())
schemathesis.openapi.format("date-time", st.one_of(REAL_TIMES, ISO_SHAPED_TIMES))


def _load_schema():
    from scribes.wsgi import application

    # Serving /schema needs no database; the schema is loaded once at collection.
    return schemathesis.openapi.from_wsgi("/schema", application)


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_test_connection_open(db):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # As Django's test client does: keep the test transaction's connection open
    # across requests made through the real WSGI handler.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(user):
    from scribes.services import user_token_issue

    token, _ = user_token_issue(user=user)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def _generous_throttles(monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(
        ScopedRateThrottle,
        "THROTTLE_RATES",
        {"auth": "100000/min", "jobs": "100000/min", "search": "100000/min"},
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_500s_and_matches_its_schema(case, bearer, fake_redis):
    case.call_and_validate(
        headers=bearer,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


#: Every operation that reads a JSON body (the schema says which; a test keeps the list true).
JSON_BODY_PATHS = [
    ("POST", "/auth/register"),
    ("POST", "/auth/token"),
    ("POST", "/notes"),
    ("POST", "/reminders"),
    ("POST", "/semantic/regenerate-embeddings"),
]


def test_the_json_body_list_covers_the_schema():
    operations = {
        (method.upper(), path.rstrip("/").replace("{id}", "1"))
        for path, methods in schema.raw_schema["paths"].items()
        for method, operation in methods.items()
        if method.upper() == "POST" and "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    assert operations <= set(JSON_BODY_PATHS), operations - set(JSON_BODY_PATHS)


@given(
    depth=st.integers(1, 20_000),
    opener=st.sampled_from(["[", '{"title": ', '{"a": [']),
    target=st.sampled_from(JSON_BODY_PATHS),
)
@settings(max_examples=max(EXAMPLES * 5, 25), deadline=None, suppress_health_check=list(HealthCheck))
def test_json_nested_to_any_depth_is_never_a_500(auth_client, fake_redis, depth, opener, target):
    closer = {"[": "]", '{"title": ': "}", '{"a": [': "]}"}[opener]
    body = opener * depth + "1" + closer * depth
    method, path = target
    response = auth_client.generic(method, path, body, content_type="application/json")
    assert response.status_code < 500, (depth, opener, path)


@given(when=st.one_of(ISO_SHAPED_TIMES, REAL_TIMES))
@settings(max_examples=max(EXAMPLES * 10, 50), deadline=None, suppress_health_check=list(HealthCheck))
def test_any_iso_shaped_time_is_accepted_or_a_400(auth_client, user, when):
    from notes.models import Note

    note = Note.objects.filter(user=user).first() or Note.objects.create(user=user, title="t", content="")
    response = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": when}, format="json")
    assert response.status_code in (201, 400), (when, response.status_code)
    if response.status_code == 400:
        assert list(response.json()) == ["scheduled_at"], response.json()
