"""`Idempotency-Key` support for POSTs that create jobs.

Ten concurrent requests with one key create one job and all get the same
response: the first inserts the (user, key) row and runs the view; the others hit
the unique constraint, wait for the stored response and replay it. A reused key
with a different request body is a 422; a key whose first request is still
running after the wait is a 409 the client can retry.
"""

from __future__ import annotations

import functools
import hashlib
import time

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.response import Response

from idempotency.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: How long a duplicate waits for the first request's response.
WAIT_SECONDS = 15.0
_REPLAYED_HEADERS = ("Location",)


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.rstrip("/").encode())
    digest.update(request.body or b"")
    return digest.hexdigest()


def _replay(record: IdempotencyKey) -> Response:
    response = Response(record.response_body, status=record.status_code)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def _wait_for(user, key: str) -> IdempotencyKey | None:
    deadline = time.monotonic() + WAIT_SECONDS
    delay = 0.02
    while True:
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is None or record.status_code is not None or time.monotonic() >= deadline:
            return record
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def idempotent(view_method):
    """Decorate an APIView `post` so an `Idempotency-Key` header makes it safe to repeat."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None or not request.user.is_authenticated:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return Response(
                {"detail": f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters."}, status=status.HTTP_400_BAD_REQUEST
            )
        fingerprint = _fingerprint(request)
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user, key=key, endpoint=request.path[:255], fingerprint=fingerprint
                )
        except IntegrityError:
            existing = _wait_for(request.user, key)
            if existing is None:  # the first request failed and released the key
                return view_method(self, request, *args, **kwargs)
            if existing.fingerprint != fingerprint:
                return Response(
                    {"detail": f"This {HEADER} was already used with a different request."},
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if existing.status_code is None:
                return Response(
                    {"detail": f"A request with this {HEADER} is still in progress; retry shortly."},
                    status=status.HTTP_409_CONFLICT,
                    headers={"Retry-After": "1"},
                )
            return _replay(existing)
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception:
            record.delete()  # nothing was stored: let a retry with this key run again
            raise
        if response.status_code >= 500 or response.status_code == 429:
            record.delete()
            return response
        record.status_code = response.status_code
        record.response_body = response.data
        record.response_headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
        record.save(update_fields=["status_code", "response_body", "response_headers"])
        return response

    return wrapper
