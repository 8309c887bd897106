"""HTTP front door for a user's reminders: validate, call a service, present.

Another user's reminder is a 404 (it does not exist for the caller); another
user's `note_id` is a 400 on the field (same message as a missing note).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from common.serializers import ErrorSerializer
from reminders import serializers, services
from reminders.models import ReminderStatus
from reminders.selectors import reminder_list_for_user


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=ReminderStatus.values, description="Only reminders in this state.")
        ],
        responses={200: serializers.ReminderSerializer(many=True), 400: ErrorSerializer},
    ),
    post=extend_schema(responses={201: serializers.ReminderSerializer, 400: ErrorSerializer}),
)
@extend_schema(tags=["reminders"])
class ReminderListApi(generics.ListCreateAPIView):
    serializer_class = serializers.ReminderSerializer

    def get_queryset(self):
        query = serializers.ReminderListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return reminder_list_for_user(user=self.request.user, status=query.validated_data.get("status"))

    def perform_create(self, serializer):
        try:
            serializer.instance = services.reminder_create(user=self.request.user, **serializer.validated_data)
        except services.ReminderLimitExceeded as exc:
            raise ValidationError({"detail": str(exc)}) from None


@extend_schema_view(
    put=extend_schema(responses={200: serializers.ReminderSerializer, 400: ErrorSerializer, 409: ErrorSerializer}),
    patch=extend_schema(responses={200: serializers.ReminderSerializer, 400: ErrorSerializer, 409: ErrorSerializer}),
)
@extend_schema(tags=["reminders"])
class ReminderDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = serializers.ReminderSerializer

    def get_queryset(self):
        return reminder_list_for_user(user=self.request.user)

    def update(self, request, *args, **kwargs):
        try:
            return super().update(request, *args, **kwargs)
        except services.ReminderConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)

    def perform_update(self, serializer):
        serializer.instance = services.reminder_update(reminder=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.reminder_delete(reminder=instance)
