"""SENTRY_DSN: a failing job reaches a local HTTP server posing as the DSN's endpoint, once, tagged, scrubbed."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.models import BackgroundJob, JobStatus
from jobs.services import background_job_start
from jobs.tests.utils import work_burst
from notes.models import Note
from scribes.errors import FILTERED, scrub_event
from scribes.tests import sentry_tasks  # noqa: F401  (registers the failing task)

NOTE_TEXT = "my bank PIN is 4921 and the spare key is under the blue pot"


class _Endpoint(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding == "br":
            import brotli

            raw = brotli.decompress(raw)
        self.server.bodies.append(raw)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _events(bodies: list[bytes]) -> list[dict]:
    """The "event" items of the envelopes received (header line, then item header + payload pairs)."""
    events = []
    for body in bodies:
        lines = body.split(b"\n")
        for index in range(1, len(lines) - 1):
            try:
                header = json.loads(lines[index])
            except ValueError:
                continue
            if isinstance(header, dict) and header.get("type") == "event":
                events.append(json.loads(lines[index + 1]))
    return events


@pytest.fixture
def sentry_endpoint():
    import sentry_sdk

    from scribes.errors import sentry_init

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sentry_init(dsn=f"http://public@127.0.0.1:{server.server_address[1]}/1", environment="test")
    try:
        yield server
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init()  # no DSN: the SDK is inert again for the other tests
        server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_sends_one_event_with_its_tags_and_without_the_notes_text(redis_conn, user, sentry_endpoint):
    import sentry_sdk

    note = Note.objects.create(user=user, title="Private", content=NOTE_TEXT)
    job = background_job_start(job_type="test_sentry_fail", user=user, params={"note_id": note.pk})
    work_burst()  # a real forking worker: the work-horse reports and flushes before it exits
    sentry_sdk.flush(timeout=5)
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.FAILED

    events = _events(sentry_endpoint.bodies)
    assert len(events) == 1, [event.get("message") or event.get("exception") for event in events]
    (event,) = events
    assert event["tags"]["job_id"] == str(job.job_id)
    assert event["tags"]["job_type"] == "test_sentry_fail"
    assert event["tags"]["queue"] == job.queue
    assert event["tags"]["user_id"] == str(user.pk)
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == f"could not index note {note.pk}"
    everything = b"".join(sentry_endpoint.bodies).decode()
    assert "PIN is 4921" not in everything and "spare key" not in everything
    assert "note_id" not in json.dumps(event.get("extra", {}))  # no job arguments


@pytest.mark.django_db
def test_scrub_event_drops_bodies_credentials_and_secret_values(settings):
    settings.METRICS_TOKEN = "metrics-token-1234567"
    settings.EMAIL_HOST_PASSWORD = "smtp-password-99"
    event = {
        "request": {
            "url": "https://scribes.example.com/notes?token=abc",
            "method": "POST",
            "data": {"content": NOTE_TEXT},
            "query_string": "token=abc",
            "cookies": {"sessionid": "s3cret"},
            "headers": {"Authorization": "Bearer tok", "Cookie": "sessionid=s3cret", "User-Agent": "curl/8"},
        },
        "user": {"id": 7, "username": "alice", "email": "alice@example.com", "ip_address": "192.0.2.1"},
        "exception": {
            "values": [
                {
                    "type": "SMTPAuthenticationError",
                    "value": "login with smtp-password-99 refused",
                    "stacktrace": {"frames": [{"function": "send", "vars": {"content": NOTE_TEXT}}]},
                }
            ]
        },
        "extra": {"rq-job": {"job_id": "nope", "args": [NOTE_TEXT], "kwargs": {}, "description": NOTE_TEXT}},
        "breadcrumbs": {"values": [{"message": "Bearer metrics-token-1234567 sent"}]},
    }
    scrubbed = scrub_event(event, {})
    text = json.dumps(scrubbed)
    for secret in (NOTE_TEXT, "s3cret", "Bearer tok", "token=abc", "smtp-password-99", "metrics-token-1234567"):
        assert secret not in text, secret
    assert "alice" not in text
    assert scrubbed["request"]["headers"] == {"User-Agent": "curl/8"}
    assert scrubbed["request"]["url"] == "https://scribes.example.com/notes"
    assert scrubbed["user"] == {"id": 7}
    assert scrubbed["exception"]["values"][0]["value"] == f"login with {FILTERED} refused"
