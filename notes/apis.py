"""HTTP front door for notes: the caller's own notes, nobody else's."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics

from notes import services
from notes.selectors import note_list_for_user
from notes.serializers import NoteSerializer


@extend_schema(tags=["notes"])
class NoteListApi(generics.ListCreateAPIView):
    serializer_class = NoteSerializer

    def get_queryset(self):
        return note_list_for_user(user=self.request.user)

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
