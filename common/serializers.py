"""Request and response shapes for accounts, errors and health."""

from django.contrib.auth import get_user_model, password_validation
from rest_framework import serializers


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})

    def validate_username(self, value):
        if get_user_model().objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is already taken.")
        return value

    def validate(self, attrs):
        User = get_user_model()
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except Exception as exc:  # django.core.exceptions.ValidationError
            raise serializers.ValidationError({"password": list(getattr(exc, "messages", [str(exc)]))}) from None
        return attrs


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="When the token stops working (fixed, TOKEN_TTL after login).")


class LogoutAllResponseSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many tokens were revoked.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
    database = serializers.CharField()
    redis = serializers.CharField()
    workers = serializers.IntegerField(allow_null=True)
    queues = serializers.DictField(child=serializers.IntegerField(), required=False)
    workers_by_queue = serializers.DictField(child=serializers.IntegerField(), required=False)
    scheduler = serializers.CharField(required=False)
    paused_queues = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Queues an operator paused: their jobs wait."
    )
    embedder = serializers.CharField(help_text="The active embedder and model; the hashing fallback says so.")
    problems = serializers.ListField(child=serializers.CharField())
