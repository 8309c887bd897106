"""HTTP front door for accounts and health: validate, call a service, present."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from common import serializers
from scribes import services
from scribes.authentication import BearerTokenAuthentication
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
        token, expires_at = services.user_token_issue(user=user)
        return Response(
            serializers.TokenResponseSerializer(
                {"access_token": token, "token_type": "Bearer", "expires_at": expires_at}
            ).data
        )


class LogoutApi(APIView):
    """Revoke the token this request carries; the caller's other tokens (devices) stay valid."""

    # Only a token can be revoked: a session has no token to name.
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None, 401: serializers.ErrorSerializer}, tags=["auth"])
    def post(self, request):
        services.user_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    """Revoke every token of the caller (all devices)."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: serializers.LogoutAllResponseSerializer, 401: serializers.ErrorSerializer},
        tags=["auth"],
    )
    def post(self, request):
        revoked = services.user_tokens_revoke_all(user=request.user)
        return Response({"revoked": revoked})


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
