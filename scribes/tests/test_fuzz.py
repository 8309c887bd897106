"""Schema-driven fuzzing of the whole API (schemathesis, in-process WSGI, loopback only).

Bounded here (FUZZ_EXAMPLES, default 8 per operation) so CI stays fast; `make fuzz`
runs the same test with many more examples. Asserts: no response >= 500, and
every response's status, content type and body match /schema.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))


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

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "100000/min", "jobs": "100000/min"})


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
