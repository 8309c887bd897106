"""Limits the web process enforces itself, with or without nginx in front.

- `BodyLimitMiddleware` (ASGI, wraps scribes.asgi): a request body over
  REQUEST_MAX_BODY_BYTES is a 413 before Django reads it. A declared
  Content-Length over the limit is refused at once, without reading a byte (no
  `100 Continue` is sent); a body streamed without one (chunked) is counted as it
  arrives and refused once it passes the limit. Django's ASGI handler would
  otherwise spool the whole body to a temporary file before any view runs.
- The API's thread pool (scribes/wsgipool.py) reads a body in full on the event
  loop before a thread is given the request, so a client that stalls mid-body
  holds no thread.
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
