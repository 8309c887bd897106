"""`GET /jobs` and `GET /jobs/{job_id}`: job state straight from the database."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.selectors import background_job_get_for_user, background_job_list_for_user
from jobs.serializers import BackgroundJobSerializer, JobListFilterSerializer
from scribes.serializers import ErrorSerializer


@extend_schema(
    tags=["jobs"],
    parameters=[
        OpenApiParameter(
            "status",
            OpenApiTypes.STR,
            enum=[c for c, _ in BackgroundJobSerializer.Meta.model._meta.get_field("status").choices],
        ),
        OpenApiParameter("job_type", OpenApiTypes.STR),
    ],
)
class JobListApi(generics.ListAPIView):
    serializer_class = BackgroundJobSerializer

    def get_queryset(self):
        filters = JobListFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return background_job_list_for_user(user=self.request.user, **filters.validated_data)


class JobDetailApi(APIView):
    @extend_schema(
        tags=["jobs"],
        parameters=[OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: BackgroundJobSerializer, 404: ErrorSerializer},
    )
    def get(self, request, job_id: str):
        try:
            parsed = uuid.UUID(job_id)
        except ValueError:
            raise NotFound(f"No job {job_id!r}: job ids are UUIDs.") from None
        job = background_job_get_for_user(user=request.user, job_id=parsed)
        if job is None:
            # Another user's job is indistinguishable from a missing one.
            raise NotFound(f"No job {job_id}.")
        return Response(BackgroundJobSerializer(job).data)
