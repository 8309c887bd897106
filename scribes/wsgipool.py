"""The API's door in the web process: Django's WSGI handler on a fixed pool of threads, under uvicorn.

`ThreadPoolWSGI` is an ASGI application (scribes/asgi.py routes every request but
the event streams to it):

- the request body is read in full on the event loop first (bounded by
  `BodyLimitMiddleware`; past FILE_UPLOAD_MAX_MEMORY_SIZE it waits in a temporary
  file, as Django's own handlers spool it), so a client that stalls mid-body
  holds no thread;
- one of WEB_THREADS threads then runs the whole request: Django's WSGI handler,
  the view, and the response's body. A response that is not streaming (every API
  answer: Django's `HttpResponse.streaming` is False) comes back to the loop in one
  piece, which sends it; a streaming one (a static file, a download) is sent from
  the thread chunk by chunk, each chunk waiting for the loop to take it.

Why not a2wsgi, the bridge uvicorn recommends, which this replaced: it hands every
message (the body's reads, the response's start, each chunk, its end) across
threads and waits for the loop each time, three to five round trips per request
where this makes one. Under issue 30's mix (16 users, three interleaved rounds in
one run) the web process served 1.05 times the requests/s through this
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor


def wsgi_environ(scope: dict, body) -> dict:
    """The WSGI environ (PEP 3333) of an ASGI HTTP scope, with `body` as wsgi.input."""
    server_name, server_port = scope.get("server") or ("localhost", 80)
    script_name = scope.get("root_path", "")
    path = scope["path"]
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]
    environ = {
        "REQUEST_METHOD": scope["method"],
        # WSGI carries the path's bytes as latin-1 text; ASGI gives it decoded as UTF-8.
        "SCRIPT_NAME": script_name.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"], port = scope["client"]
        environ["REMOTE_PORT"] = str(port)
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            name = f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


class ThreadPoolWSGI:
    def __init__(self, app, *, threads: int, max_memory: int):
        self.app = app
        self.max_memory = max_memory
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return None  # no lifespan or websocket here (scribes.webworker turns lifespan off)
        with tempfile.SpooledTemporaryFile(max_size=self.max_memory) as body:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return None  # the client left (or the body limit answered 413): no view to run
                body.write(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body.seek(0)
            loop = asyncio.get_running_loop()
            environ = wsgi_environ(scope, body)
            # The thread sees the request's context variables (the request id, Sentry's scope).
            run = contextvars.copy_context().run
            whole = await loop.run_in_executor(self.executor, run, self._respond, environ, loop, send)
        if whole is not None:
            status, headers, content = whole
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
        return None

    def _respond(self, environ: dict, loop, send) -> tuple[int, list, bytes] | None:
        """In a pool thread: run the request; the whole response, or None once a streaming one is sent."""
        started: dict = {}

        def start_response(status: str, headers: list, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
            return self._unsupported_write

        iterable = self.app(environ, start_response)
        try:
            if getattr(iterable, "streaming", True) is False:
                return started["status"], started["headers"], b"".join(iterable)

            def send_and_wait(message: dict) -> None:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            chunks = iter(iterable)
            first = next(chunks, b"")  # start_response may be called as late as the first chunk
            send_and_wait({"type": "http.response.start", "status": started["status"], "headers": started["headers"]})
            if first:
                send_and_wait({"type": "http.response.body", "body": first, "more_body": True})
            for chunk in chunks:
                if chunk:
                    send_and_wait({"type": "http.response.body", "body": chunk, "more_body": True})
            send_and_wait({"type": "http.response.body", "body": b""})
            return None
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()  # Django's request_finished: the request's database connection goes back

    @staticmethod
    def _unsupported_write(data: bytes) -> None:
        raise NotImplementedError("the legacy WSGI write() callable is not supported; return an iterable")
