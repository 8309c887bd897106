"""`POST /semantic/regenerate-embeddings` and `GET /semantic/search` (three modes): validate, call, present."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from common.exceptions import ServiceUnavailable
from common.serializers import ErrorSerializer
from idempotency.decorators import idempotent
from jobs.serializers import BackgroundJobSerializer
from notes.search import KeywordQueryError
from semantic.embedders import EmbedderUnavailable
from semantic.hybrid import MODES, note_hybrid_search
from semantic.serializers import RegenerateRequestSerializer, SearchQuerySerializer, SearchResponseSerializer
from semantic.services import note_embeddings_regenerate_start


class SearchUnavailable(ServiceUnavailable):
    """The embedding model cannot be loaded; search answers 503."""


def _invalid(serializer) -> ValidationError:
    """A 400 whose `detail` says in words what was wrong (and `errors` per field)."""
    words = "; ".join(f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in serializer.errors.items())
    error = ValidationError()
    error.detail = {"detail": words, "errors": serializer.errors}
    return error


class RegenerateEmbeddingsApi(APIView):
    throttle_scope = "jobs"

    @extend_schema(
        tags=["semantic"],
        request=RegenerateRequestSerializer,
        responses={
            202: OpenApiResponse(
                BackgroundJobSerializer,
                description="The job (a new one, or the caller's queued/running one); "
                "`Location` points at `/jobs/{job_id}`.",
            ),
            400: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    @idempotent
    def post(self, request):
        payload = RegenerateRequestSerializer(data=request.data)
        if not payload.is_valid():
            raise _invalid(payload)
        job, _ = note_embeddings_regenerate_start(user=request.user, **payload.validated_data)
        return Response(
            BackgroundJobSerializer(job).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/jobs/{job.job_id}"},
        )


def _search_args(data: dict) -> dict:
    return {"query": data["q"], "limit": data["limit"], "mode": data["mode"]}


class SearchApi(APIView):
    throttle_scope = "search"  # every call runs the model on the query

    @extend_schema(
        tags=["semantic"],
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="What to look for, in words."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="How many results (default 10)."),
            OpenApiParameter(
                "mode",
                OpenApiTypes.STR,
                enum=list(MODES),
                description="hybrid (default): words and meaning fused by normalized scores; semantic: meaning only; "
                'keyword: words only (web-search syntax: "quoted phrase", -word, or).',
            ),
        ],
        responses={200: SearchResponseSerializer, 400: ErrorSerializer, 503: ErrorSerializer},
    )
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        if not params.is_valid():
            raise _invalid(params)
        try:
            result = note_hybrid_search(user=request.user, **_search_args(params.validated_data))
        except KeywordQueryError as exc:
            raise ValidationError({"detail": f"q: {exc}", "errors": {"q": [str(exc)]}}) from exc
        except EmbedderUnavailable as exc:
            raise SearchUnavailable(f"Search is unavailable: {exc}") from exc
        return Response(SearchResponseSerializer(result).data)
