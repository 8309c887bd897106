"""HTTP front door for accounts and health: validate, call a service, present."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from scribes import serializers, services
from scribes.health import health_report


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "auth"

    @extend_schema(
        request=serializers.RegisterSerializer,
        responses={201: serializers.UserSerializer, 400: serializers.ErrorSerializer},
        tags=["auth"],
    )
    def post(self, request):
        payload = serializers.RegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_register(**payload.validated_data)
        return Response(serializers.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "auth"

    @extend_schema(
        request=serializers.TokenRequestSerializer,
        responses={
            200: serializers.TokenResponseSerializer,
            401: serializers.ErrorSerializer,
        },
        tags=["auth"],
    )
    def post(self, request):
        payload = serializers.TokenRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = authenticate(request, **payload.validated_data)
        if user is None:
            return Response(
                {"detail": "Invalid username or password."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"access_token": token.key, "token_type": "Bearer"})


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: serializers.HealthSerializer,
            503: serializers.HealthSerializer,
        },
        tags=["health"],
    )
    def get(self, request):
        report = health_report()
        code = status.HTTP_200_OK if report["status"] != "error" else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)
