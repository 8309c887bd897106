"""X-Request-ID: accepted or made, returned, and on every log line of the request (plain and LOG_FORMAT=json)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

import pytest

from scribes.requestid import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """Lines the request's loggers write, through the project's filter and the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_clients_request_id_is_returned_and_on_every_log_line(client, monkeypatch, log_lines):
    import scribes.apis

    def logging_report():
        logging.getLogger("scribes.health").warning("probing the database")
        logging.getLogger("jobs.selectors").warning("probing Redis")
        return {"status": "ok", "problems": []}

    monkeypatch.setattr(scribes.apis, "health_report", logging_report)
    response = client.get("/health", HTTP_X_REQUEST_ID="edge-7f3a.42")
    assert response["X-Request-ID"] == "edge-7f3a.42"
    # Django's own 404 line is written after the middleware returned: it carries the id too.
    assert client.get("/no-such-page", HTTP_X_REQUEST_ID="edge-404").status_code == 404
    lines = [(line["logger"], line["message"], line["request_id"]) for line in log_lines()]
    assert ("scribes.health", "probing the database", "edge-7f3a.42") in lines
    assert ("jobs.selectors", "probing Redis", "edge-7f3a.42") in lines
    assert ("django.request", "Not Found: /no-such-page", "edge-404") in lines
    # Outside a request, no id.
    logging.getLogger("scribes").warning("between requests")
    assert log_lines()[-1]["request_id"] == "-"


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(client):
    made = client.get("/health")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/health")["X-Request-ID"] != made
    for unsafe in ["has spaces", "x" * 129, "line\\nbreak", "<script>"]:
        returned = client.get("/health", HTTP_X_REQUEST_ID=unsafe)["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", returned), unsafe


def test_log_format_json_writes_one_object_a_line_from_the_settings(subprocess_env, tmp_path):
    """The real LOGGING from settings, in a fresh process: every line parses, the request's lines carry its id."""
    env = {**subprocess_env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    script = (
        "import django, logging; django.setup()\n"
        "from django.test import Client\n"
        "logging.getLogger('scribes').info('before')\n"
        "print(Client().get('/no-such-page', HTTP_X_REQUEST_ID='json-req-1').status_code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "404", done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[0])
    assert ("scribes", "before", "-") in [(line["logger"], line["message"], line["request_id"]) for line in lines]
    assert ("django.request", "json-req-1") in [(line["logger"], line["request_id"]) for line in lines]
