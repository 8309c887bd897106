"""Request ids: `X-Request-ID` accepted (or made), returned, and written on every log line of the request.

The id lives in a context variable, so every logger reached while serving the
request (views, services, the ORM's warnings) can print it through
`RequestIdFilter`, in the sync and the async paths alike (asgiref copies the
context into the threads that run sync code). `LOG_FORMAT=json` writes one JSON
object a line with the id as a field.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from common.requestid import request_id_var

HEADER = "X-Request-ID"
#: What a client may send: a proxy's or a caller's id, not arbitrary text for our logs.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_for(header: str | None) -> str:
    """The client's id when it is a sane token, else a fresh one (32 hex characters)."""
    if header and _ACCEPTED.match(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: every later middleware's log line carries the id too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _start(self, request) -> contextvars.Token:
        request.request_id = request_id_for(request.headers.get(HEADER))
        return request_id_var.set(request.request_id)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._start(request)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[HEADER] = request.request_id
        return response

    async def __acall__(self, request):
        token = self._start(request)
        try:
            response = await self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` ("-" outside a request) and `record.request_tag` (" [id]", or "" outside one).

    Django logs a 4xx/5xx response (`django.request`) after the middleware has
    returned, with the request attached to the record: its id is read there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id_var.get() or "-"
        record.request_tag = f" [{record.request_id}]" if record.request_id != "-" else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, and exc_info if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
