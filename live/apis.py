"""`GET /jobs/{job_id}/events`: a job's progress as Server-Sent Events, read from its Redis Stream.

An async view, so one web process holds many open streams on one event loop
under any ASGI server: each waits in `XREAD BLOCK` on the job's stream (one
Redis connection each) and holds no database connection and no thread. The
caller is authenticated with the API's own authentication classes and the row
read once (ownership, first state) in a thread, after which that thread's
database connections are closed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from redis.exceptions import MaxConnectionsError, RedisError
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from jobs.etags import events_key
from jobs.models import FINAL_STATUSES
from jobs.selectors import background_job_get_for_user
from live import events

logger = logging.getLogger("live.apis")

#: Sent first: how long a browser's EventSource waits before reconnecting.
RETRY_FRAME = b"retry: 3000\n\n"
KEEPALIVE_FRAME = b": keep-alive\n\n"

EXAMPLE = (
    "retry: 3000\n\n"
    "id: 1764515400123-0\nevent: status\n"
    'data: {"job_id": "…", "status": "running", "progress_percent": 0, "processed_items": 0, "total_items": 500, …}\n\n'
    "id: 1764515400456-0\nevent: progress\n"
    'data: {"job_id": "…", "status": "running", "progress_percent": 12, "processed_items": 64, …}\n\n'
    ": keep-alive\n\n"
    "id: 1764515404012-0\nevent: completed\n"
    'data: {"job_id": "…", "status": "completed", "result_data": {"embeddings_generated": 500, …}, …}\n\n'
)


def _error(status: int, detail: str, **headers) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _close_connections() -> None:
    # Run in the thread that opened them: the stream may stay open for an
    # hour, and a connection kept by an idle thread is one PostgreSQL slot.
    # One inside a transaction belongs to whoever opened that (a test's
    # transaction, ATOMIC_REQUESTS) and is left to it.
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _authorize(request, job_id: uuid.UUID):
    """(the caller's row, its document) or an error response; runs in a thread, closes its connections."""
    try:
        drf_request = Request(request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
        try:
            user = drf_request.user
        except exceptions.APIException as exc:
            return _error(exc.status_code, str(exc.detail))
        if user is None or not user.is_authenticated:
            header = (
                drf_request.authenticators[0].authenticate_header(drf_request) if drf_request.authenticators else None
            )
            extra = {"WWW_Authenticate": header} if header else {}
            return _error(401, "Authentication credentials were not provided.", **extra)
        row = background_job_get_for_user(user=user, job_id=job_id)
        if row is None:
            return _error(404, f"No job {job_id}.")
        # The token (knox's row) is looked at again at each keep-alive; a session has none.
        token_pk = getattr(drf_request.auth, "pk", None)
        return row, events.job_document(row), user.pk, token_pk
    finally:
        _close_connections()


def _token_alive(token_pk) -> bool:
    """Whether the stream's token is still neither revoked nor expired; runs in a thread, closes its connection."""
    from django.db.models import Q
    from django.utils import timezone
    from knox.models import AuthToken

    try:
        return (
            AuthToken.objects.filter(pk=token_pk).filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now())).exists()
        )
    except DatabaseError as exc:  # the pool is busy or the database away: look again next time
        logger.warning("Event stream: could not check its token (%s: %s)", type(exc).__name__, exc)
        return True
    finally:
        _close_connections()


#: Open streams per user id in this process. The event loop counts them; a response closed
#: before its body started gives its slot back from Django's closing thread, hence the lock.
_open_streams: dict[int, int] = {}
_open_streams_lock = threading.Lock()


class _Slot:
    """One of a user's LIVE_STREAMS_PER_USER stream slots, given back once (the body's end or the response's close)."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        self.held = True
        with _open_streams_lock:
            _open_streams[user_id] = _open_streams.get(user_id, 0) + 1

    def __call__(self) -> None:
        with _open_streams_lock:
            if not self.held:
                return
            self.held = False
            left = _open_streams.get(self.user_id, 1) - 1
            if left > 0:
                _open_streams[self.user_id] = left
            else:
                _open_streams.pop(self.user_id, None)


def _entry_key(entry_id: str) -> tuple[int, int]:
    milliseconds, sequence = entry_id.split("-")
    return int(milliseconds), int(sequence)


async def _follow(key: str, *, first: bytes | None, cursor: str, done: bool, token_pk=None, slot=None):
    """The stream body: the first frame, then entries after `cursor` until the final one.

    At each keep-alive the token is looked up again (no connection is held in
    between): revoked or expired, the stream ends, and the client's reconnection gets a 401.
    """
    try:
        yield RETRY_FRAME + (first or b"")
        if done:
            return
        # This loop's own client: a WSGI server iterates the body on another
        # event loop than the view's (and only sends it once the job ends).
        client = events.async_redis_client()
        block_ms = settings.JOBS_EVENTS_KEEPALIVE_SECONDS * 1000
        checked = time.monotonic()
        while True:
            reply = await client.xread({key: cursor}, count=100, block=block_ms)
            if token_pk is not None and time.monotonic() - checked >= settings.JOBS_EVENTS_KEEPALIVE_SECONDS:
                checked = time.monotonic()
                if not await sync_to_async(_token_alive)(token_pk):
                    logger.info("Event stream %s closed: its token was revoked or expired", key)
                    return
            if not reply:
                yield KEEPALIVE_FRAME
                continue
            for entry_id, fields in reply[0][1]:
                frame, final = events.entry_frame(entry_id, fields)
                yield frame
                cursor = entry_id.decode()
                if final:
                    return
    except RedisError as exc:
        # Ends the response; the client reconnects with Last-Event-ID and loses nothing.
        logger.warning("Event stream %s ended: Redis unavailable (%s: %s)", key, type(exc).__name__, exc)
    finally:
        if slot is not None:
            slot()


async def job_events(request, job_id: str):
    """The async view (see the module doc); `JobEventsSchema` documents it in /docs."""
    if request.method != "GET":
        return _error(405, f'Method "{request.method}" not allowed.', Allow="GET")
    try:
        parsed = uuid.UUID(job_id)
    except ValueError:
        return _error(404, f"No job {job_id!r}: job ids are UUIDs.")
    last_event_id = request.headers.get("Last-Event-ID", "").strip()
    if last_event_id and not events.EVENT_ID.match(last_event_id):
        return _error(400, "Last-Event-ID must be an event id this stream sent (like 1764515400123-0).")
    outcome = await sync_to_async(_authorize)(request, parsed)
    if isinstance(outcome, HttpResponse):
        return outcome
    row, document, user_id, token_pk = outcome
    if _open_streams.get(user_id, 0) >= settings.LIVE_STREAMS_PER_USER:
        logger.warning("Event stream of job %s refused: user %s holds LIVE_STREAMS_PER_USER", parsed, user_id)
        return _error(
            429,
            f"Too many open event streams for this user (at most {settings.LIVE_STREAMS_PER_USER}); "
            "close one or poll GET /jobs/{job_id}.",
            Retry_After="5",
        )
    slot = _Slot(user_id)
    try:
        response = await _open(request, parsed, row, document, last_event_id, token_pk, slot)
    except BaseException:
        slot()
        raise
    if isinstance(response, StreamingHttpResponse):
        # Given back when the body ends, or when the response is closed without it having started.
        response._resource_closers.append(slot)
    else:
        slot()
    return response


async def _open(request, parsed, row, document, last_event_id, token_pk, slot):
    key = events_key(parsed)
    client = events.async_redis_client()
    try:
        latest = await client.xrevrange(key, count=1)
    except MaxConnectionsError:
        logger.warning("Event stream of job %s refused: JOBS_EVENTS_MAX_STREAMS streams already open", parsed)
        return _error(503, "Too many open event streams on this server; poll GET /jobs/{job_id}.", Retry_After="5")
    except RedisError as exc:
        logger.warning("Event stream of job %s unavailable: %s", parsed, exc)
        return _error(503, "Live events are unavailable (Redis); poll GET /jobs/{job_id} instead.")
    latest_frame, latest_final = events.entry_frame(*latest[0]) if latest else (None, False)
    snapshot = events.sse_frame(
        event=events.event_name(row), data=json.dumps(document, separators=(",", ":"))
    )  # no id: it is not an entry of the stream
    if latest_final:
        latest_id = latest[0][0].decode()
        if last_event_id and _entry_key(latest_id) <= _entry_key(last_event_id):
            # The client saw the end: 204 tells an EventSource to stop reconnecting.
            return HttpResponse(status=204)
        first, cursor, done = (None, last_event_id, False) if last_event_id else (latest_frame, latest_id, True)
    elif row.status in FINAL_STATUSES:
        # The stream lacks the end (expired, Redis flushed, a publish lost or in flight): the row has it.
        first, cursor, done = snapshot, "", True
    elif last_event_id:
        first, cursor, done = None, last_event_id, False
    elif latest:
        first, cursor, done = latest_frame, latest[0][0].decode(), False
    else:
        # No stream yet (or lost): the row's state, then every entry written from now on.
        first, cursor, done = snapshot, "0-0", False
    response = StreamingHttpResponse(
        _follow(key, first=first, cursor=cursor, done=done, token_pk=token_pk, slot=slot),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    # nginx: pass each frame on at once (compose's proxy also sets proxy_buffering off).
    response["X-Accel-Buffering"] = "no"
    return response


class JobEventsSchema(APIView):
    """Never dispatched: documents `job_events` (an async view DRF cannot run) for drf-spectacular."""

    @extend_schema(
        tags=["jobs"],
        operation_id="jobs_events_retrieve",
        summary="Watch a job live (Server-Sent Events)",
        description=(
            "A `text/event-stream` of the caller's job. Events: `status` (queued, running), `progress` "
            "(`progress_percent`, `processed_items`, `total_items`), then one final event named after the "
            "outcome, `completed` (with `result_data`), `failed` or `cancelled` (with `error_message`), after "
            "which the stream ends. Every event's `data` is the whole job document of `GET /jobs/{job_id}`. "
            "The first event is the job's current state. Each event has an `id`; reconnect with "
            "`Last-Event-ID` to receive exactly the events after it (a browser's EventSource does this by "
            "itself). Comments (`: keep-alive`) are sent while nothing happens. 204 when `Last-Event-ID` "
            "is already the final event. Close the stream after the final event."
        ),
        parameters=[
            OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The `id` of the last event received; the stream resumes after it.",
                pattern=events.EVENT_ID.pattern,
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Server-Sent Events until the job's final event.",
                examples=[OpenApiExample("a regeneration of 500 notes", value=EXAMPLE)],
            ),
            (204, "text/event-stream"): OpenApiResponse(description="The client has seen the final event."),
        },
    )
    def get(self, request, job_id):  # pragma: no cover - documentation only
        raise NotImplementedError


# drf-spectacular documents a URL whose callback names a DRF view in `cls`.
job_events.cls = JobEventsSchema
job_events.initkwargs = {}
