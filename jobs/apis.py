"""`GET /jobs`, `GET /jobs/{job_id}` (with ETag) and `POST /jobs/{job_id}/cancel`."""

import logging
import math
import uuid

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from common.serializers import ErrorSerializer
from jobs import etags
from jobs.models import ACTIVE_STATUSES, BackgroundJob
from jobs.selectors import background_job_get_for_user, background_job_list_for_user
from jobs.serializers import BackgroundJobSerializer, JobListFilterSerializer
from jobs.services import JobNotCancellable, background_job_cancel_own

logger = logging.getLogger(__name__)


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


def _job_id(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"No job {job_id!r}: job ids are UUIDs.") from None


def _retry_after() -> str:
    # A poller learns nothing new faster than progress is written.
    return str(max(1, math.ceil(settings.JOBS_PROGRESS_INTERVAL_MS / 1000)))


def _latest_event(job_id) -> tuple[str, str] | None:
    try:
        return etags.job_latest_event(job_id)
    except RedisError as exc:
        logger.warning("Job %s: no version from Redis (%s); answering from the row", job_id, exc)
        return None


class JobDetailApi(APIView):
    @extend_schema(
        tags=["jobs"],
        description=(
            "The caller's job. The response carries an `ETag`; send it back in `If-None-Match` and an "
            "unchanged job answers 304 without a database read of the job. While the job is queued or "
            "running, `Retry-After` says how many seconds to wait before polling again "
            "(or watch `GET /jobs/{job_id}/events`)."
        ),
        parameters=[
            OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            200: BackgroundJobSerializer,
            304: OpenApiResponse(description="Not modified since the `ETag` sent in `If-None-Match`."),
            404: ErrorSerializer,
        },
    )
    def get(self, request, job_id: str):
        parsed = _job_id(job_id)
        # The version is read before the row: a change committed after this
        # read publishes a newer version, so a tag handed out here never hides it.
        latest = _latest_event(parsed)
        if_none_match = request.headers.get("If-None-Match")
        if latest is not None and if_none_match:
            tag = etags.etag(job_id=parsed, version=latest[0], user_id=request.user.pk)
            if etags.etag_matches(if_none_match, tag):
                response = Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
                if latest[1] not in etags.FINAL_EVENTS:
                    response["Retry-After"] = _retry_after()
                return response
        job = background_job_get_for_user(user=request.user, job_id=parsed)
        if job is None:
            # Another user's job is indistinguishable from a missing one.
            raise NotFound(f"No job {job_id}.")
        version = latest[0] if latest is not None else etags.row_version(job)
        tag = etags.etag(job_id=parsed, version=version, user_id=request.user.pk)
        if latest is None and if_none_match and etags.etag_matches(if_none_match, tag):
            response = Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        else:
            response = Response(BackgroundJobSerializer(job).data, headers={"ETag": tag})
        if job.status in ACTIVE_STATUSES:
            response["Retry-After"] = _retry_after()
        return response


class JobCancelApi(APIView):
    @extend_schema(
        tags=["jobs"],
        request=None,
        description=(
            "Cancel the caller's job. A queued job never runs; a running job is stopped (RQ's stop-job "
            "command) and what it committed stays. The job ends `cancelled`, recorded with who and when in "
            "its audit trail. Cancelling a cancelled job again is a 200 with the same job."
        ),
        parameters=[OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            200: BackgroundJobSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The job already finished (completed or failed)."),
        },
    )
    def post(self, request, job_id: str):
        parsed = _job_id(job_id)
        try:
            job = background_job_cancel_own(user=request.user, job_id=parsed)
        except BackgroundJob.DoesNotExist:
            raise NotFound(f"No job {job_id}.") from None
        except JobNotCancellable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(BackgroundJobSerializer(job).data)
