"""`Authorization: Bearer <token>`, the header clients of the old service send."""

from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    keyword = "Bearer"
