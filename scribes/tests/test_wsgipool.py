"""The API's door (scribes/wsgipool.py): WSGI on a fixed pool of threads, driven as uvicorn drives it.

Unit tests with plain WSGI callables and the ASGI messages uvicorn sends and
receives; the real processes (uvicorn, nginx) are in test_topology.py and
test_limits.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from scribes.wsgipool import ThreadPoolWSGI

REQUEST_VAR = contextvars.ContextVar("request_var", default="unset")


def _scope(path="/notes", query=b"", method="GET", headers=()):
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": query,
        "headers": list(headers),
        "client": ("10.1.2.3", 54321),
        "server": ("127.0.0.1", 8000),
    }


def _drive(app, scope, bodies=(b"",), disconnect_early=False):
    """Run one request through `app`; the messages it sent."""
    sent = []
    incoming = [{"type": "http.request", "body": b, "more_body": i < len(bodies) - 1} for i, b in enumerate(bodies)]
    if disconnect_early:
        incoming = incoming[:1] + [{"type": "http.disconnect"}]
        incoming[0]["more_body"] = True

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def main():
        REQUEST_VAR.set("from the request")
        await app(scope, receive, send)

    asyncio.run(main())
    return sent


class Recorder:
    """A WSGI app that records what it was given and answers with `chunks`."""

    def __init__(self, chunks=(b"hello",), streaming=False):
        self.chunks, self.streaming = chunks, streaming
        self.environ, self.body, self.thread, self.context, self.closed = None, None, None, None, False

    def __call__(self, environ, start_response):
        self.environ = environ
        self.body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.thread = threading.current_thread().name
        self.context = REQUEST_VAR.get()
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Seen", "yes")])
        app = self

        class Response(list):
            streaming = app.streaming

            def close(self):
                app.closed = True

        return Response(self.chunks)


def test_a_whole_response_runs_in_a_pool_thread_and_is_sent_from_the_loop_in_one_piece():
    app = Recorder(chunks=(b'{"a":', b"1}"))
    sent = _drive(ThreadPoolWSGI(app, threads=2, max_memory=1024), _scope())
    headers = [(b"content-type", b"application/json"), (b"x-seen", b"yes")]
    assert sent == [
        {"type": "http.response.start", "status": 201, "headers": headers},
        {"type": "http.response.body", "body": b'{"a":1}'},
    ]
    assert app.thread.startswith("web")
    assert app.context == "from the request"  # the request id and Sentry's scope reach the view
    assert app.closed  # Django's request_finished: the connection goes back to the pool


def test_a_streaming_response_is_sent_chunk_by_chunk_then_closed():
    app = Recorder(chunks=(b"one", b"", b"two"), streaming=True)
    sent = _drive(ThreadPoolWSGI(app, threads=1, max_memory=1024), _scope())
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 3
    assert [(m.get("body"), m.get("more_body", False)) for m in sent[1:]] == [
        (b"one", True),
        (b"two", True),
        (b"", False),
    ]
    assert app.closed


def test_the_body_is_read_on_the_loop_before_a_thread_runs_the_view():
    app = Recorder()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    _drive(ThreadPoolWSGI(app, threads=1, max_memory=4), _scope(method="POST", headers=headers), [b"hello ", b"world"])
    assert app.body == b"hello world"  # past max_memory it waited in a temporary file
    assert app.environ["CONTENT_TYPE"] == "application/json" and app.environ["CONTENT_LENGTH"] == "11"


def test_a_client_that_leaves_mid_body_costs_no_thread():
    app = Recorder()
    sent = _drive(ThreadPoolWSGI(app, threads=1, max_memory=1024), _scope(method="POST"), disconnect_early=True)
    assert sent == [] and app.environ is None


def test_the_environ_carries_what_django_reads():
    app = Recorder()
    headers = [(b"authorization", b"Bearer t"), (b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"2.2.2.2")]
    _drive(ThreadPoolWSGI(app, threads=1, max_memory=1024), _scope("/notes/caf\u00e9", b"q=a%20b&n=1", headers=headers))
    environ = app.environ
    # PEP 3333: the path's UTF-8 bytes as latin-1 text (Django decodes them back).
    assert environ["PATH_INFO"] == "/notes/caf\u00e9".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=a%20b&n=1"
    assert environ["HTTP_AUTHORIZATION"] == "Bearer t"
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,2.2.2.2"
    assert (environ["REMOTE_ADDR"], environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("10.1.2.3", "127.0.0.1", "8000")
    assert environ["REQUEST_METHOD"] == "GET" and environ["wsgi.url_scheme"] == "http"


@pytest.mark.django_db(transaction=True)  # the view reads the token from a pool thread's own connection
def test_django_answers_through_it(user):
    from django.core.wsgi import get_wsgi_application

    from scribes.services import user_token_issue

    token, _ = user_token_issue(user=user)
    app = ThreadPoolWSGI(get_wsgi_application(), threads=2, max_memory=1024)
    scope = _scope(
        "/notes", b"page_size=1", headers=[(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")]
    )
    sent = _drive(app, scope)
    assert sent[0]["status"] == 200, sent
    assert b'"results"' in sent[1]["body"]
