"""A job-creating view used to test the idempotency decorator on its own."""

from django.urls import re_path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from idempotency.decorators import idempotent
from jobs.serializers import BackgroundJobSerializer
from jobs.services import background_job_start
from jobs.tests import tasks  # noqa: F401


class StartProbeApi(APIView):
    @idempotent
    def post(self, request):
        job = background_job_start(job_type="test_progress", user=request.user, params={"steps": 1})
        return Response(
            BackgroundJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": f"/jobs/{job.pk}"}
        )


urlpatterns = [re_path(r"^probe/?$", StartProbeApi.as_view())]
