"""JSON errors everywhere: DRF exceptions, Django's 404/500 pages, never a traceback."""

import logging

from django.http import JsonResponse
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """A dependency (Redis, the database) is down; the API answers 503."""


def api_exception_handler(exc, context):
    from rest_framework.response import Response

    from scribes.dbpool import BUSY_DETAIL, is_pool_exhausted, retry_after_seconds

    if isinstance(exc, ServiceUnavailable):
        return Response({"detail": str(exc)}, status=503)
    if is_pool_exhausted(exc):
        logger.warning("API request refused with 503: %s", exc)
        return Response({"detail": BUSY_DETAIL}, status=503, headers={"Retry-After": str(retry_after_seconds())})
    response = exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": response.data}
    return response


def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    import sys

    from scribes.dbpool import busy_response, is_pool_exhausted

    # Raised outside a view (a middleware's own query): still a 503, not a 500.
    if is_pool_exhausted(sys.exc_info()[1]):
        return busy_response()
    # The traceback goes to the log (Django logs it before calling this view),
    # never into the response.
    return JsonResponse({"detail": "Internal server error."}, status=500)


def json_bad_request(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse({"detail": "Permission denied."}, status=403)
