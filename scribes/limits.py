"""Limits the web process enforces itself, with or without nginx in front.

- `BodyLimitMiddleware` (ASGI, wraps scribes.asgi): a request body over
  REQUEST_MAX_BODY_BYTES is a 413 before Django reads it. A declared
  Content-Length over the limit is refused at once, without reading a byte (no
  `100 Continue` is sent); a body streamed without one (chunked) is counted as it
  arrives and refused once it passes the limit. Django's ASGI handler would
  otherwise spool the whole body to a temporary file before any view runs.
- `ReadBodyFirst` (ASGI, in front of the API's thread pool in scribes/asgi.py): a
  body is read in full on the event loop before a thread is given the request, so
  a client that stalls mid-body holds no thread.
- The header timeout lives in the uvicorn protocol (scribes.webworker): headers
  that have not all arrived HTTP_HEADER_TIMEOUT seconds after the connection was
  made (or after the request's first byte, on a kept-alive connection) close it.
"""

from __future__ import annotations

import json
import logging

logger = logging.getLogger("scribes.limits")


def _response_messages(limit: int) -> list[dict]:
    body = json.dumps({"detail": f"Request body too large: at most {limit} bytes."}).encode()
    return [
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def _chunked(scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > limit:
            logger.warning("%s %s refused: Content-Length %d over %d", scope["method"], scope["path"], declared, limit)
            for message in _response_messages(limit):
                await send(message)
            return None
        if declared is not None or not _chunked(scope):
            # The server reads no more than the declared length (none without one): nothing to count.
            return await self.app(scope, receive, send)

        received = 0
        started = False
        refused = False

        async def counting_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    logger.warning("%s %s refused: body passed %d bytes", scope["method"], scope["path"], limit)
                    if not started:
                        for reply in _response_messages(limit):
                            await send(reply)
                    # Django stops reading (RequestAborted) and sends nothing more.
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return None
            if message["type"] == "http.response.start":
                started = True
            return await send(message)

        return await self.app(scope, counting_receive, tracking_send)


def _has_body(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class ReadBodyFirst:
    """Reads a request's body in full on the event loop, then calls `app` with it replayed.

    a2wsgi (scribes/asgi.py) hands a request to one of a few threads at once and
    lets the view read the body from there: a client that stalls mid-body would
    hold that thread, and a handful of them every thread. Read here, a stalled
    body costs a socket on the event loop (as under Django's ASGI handler, which
    reads the body before it calls a view). Bodies are already bounded by
    `BodyLimitMiddleware`; past FILE_UPLOAD_MAX_MEMORY_SIZE they wait in a
    temporary file, as Django's handler spools them.
    """

    chunk_size = 64 * 1024

    def __init__(self, app, max_memory: int):
        self.app = app
        self.max_memory = max_memory

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _has_body(scope):
            return await self.app(scope, receive, send)
        import tempfile

        with tempfile.SpooledTemporaryFile(max_size=self.max_memory) as body:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return None  # the client left (or the body limit answered 413): no view to run
                body.write(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body.seek(0)
            done = False

            async def replay():
                nonlocal done
                if done:
                    return await receive()  # after the body: the client's disconnect, when it comes
                chunk = body.read(self.chunk_size)
                done = len(chunk) < self.chunk_size
                return {"type": "http.request", "body": chunk, "more_body": not done}

            return await self.app(scope, replay, send)
