"""JSON errors everywhere: DRF exceptions, Django's 404/500 pages, never a traceback."""

import logging

from django.http import JsonResponse
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """A dependency (Redis, the database) is down; the API answers 503."""


def api_exception_handler(exc, context):
    if isinstance(exc, ServiceUnavailable):
        from rest_framework.response import Response

        return Response({"detail": str(exc)}, status=503)
    response = exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": response.data}
    return response


def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    # The traceback goes to the log (Django logs it before calling this view),
    # never into the response.
    return JsonResponse({"detail": "Internal server error."}, status=500)


def json_bad_request(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse({"detail": "Permission denied."}, status=403)
