"""HTTP front door for notes: the caller's own notes, nobody else's."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import ValidationError

from notes import services
from notes.search import MAX_RESULTS, KeywordQueryError
from notes.selectors import note_ids_matching, note_list_for_user
from notes.serializers import NoteSearchParamsSerializer, NoteSerializer
from scribes.serializers import ErrorSerializer

_SEARCH = OpenApiParameter(
    "search",
    OpenApiTypes.STR,
    description='Keyword search, best match first: words (all must match), "quoted phrase", -word to exclude, '
    f"`or` between alternatives. At most {MAX_RESULTS} matches are listed.",
)


@extend_schema_view(
    get=extend_schema(parameters=[_SEARCH], responses={200: NoteSerializer(many=True), 400: ErrorSerializer})
)
@extend_schema(tags=["notes"])
class NoteListApi(generics.ListCreateAPIView):
    serializer_class = NoteSerializer

    def get_queryset(self):
        return note_list_for_user(user=self.request.user)

    def check_throttles(self, request):
        # A keyword search reads every note of the caller: it counts against the
        # `search` limit with GET /semantic/search (one counter per user); listing does not.
        searching = request.method == "GET" and "search" in request.query_params
        self.throttle_scope = "search" if searching else None
        super().check_throttles(request)

    def list(self, request, *args, **kwargs):
        if "search" not in request.query_params:
            return super().list(request, *args, **kwargs)
        params = NoteSearchParamsSerializer(data=request.query_params)
        if not params.is_valid():
            problems = params.errors["search"]
            raise ValidationError({"detail": f"search: {' '.join(problems)}", "errors": params.errors})
        try:
            ids = note_ids_matching(user=request.user, search=params.validated_data["search"])
        except KeywordQueryError as exc:
            raise ValidationError({"detail": f"search: {exc}", "errors": {"search": [str(exc)]}}) from exc
        page = self.paginate_queryset(ids)
        notes = self.get_queryset().in_bulk(page)
        # A note deleted between the two reads is left out of the page.
        data = NoteSerializer([notes[i] for i in page if i in notes], many=True).data
        return self.get_paginated_response(data)

    def perform_create(self, serializer):
        serializer.instance = services.note_create(user=self.request.user, **serializer.validated_data)


@extend_schema(tags=["notes"])
class NoteDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = NoteSerializer

    def get_queryset(self):
        return note_list_for_user(user=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.note_update(note=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.note_delete(note=instance)
