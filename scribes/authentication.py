"""`Authorization: Bearer <token>` (the header existing clients send), checked against hashed knox tokens."""

from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.signals import token_expired


class BearerTokenAuthentication(TokenAuthentication):
    """knox's authentication; the "Bearer" prefix comes from REST_KNOX["AUTH_HEADER_PREFIX"] (settings).

    knox also loads and prunes all of the user's other tokens on every request (one
    more query per API call); here a request looks at its own token only, and the
    user's other expired tokens are pruned at login (scribes.services.user_token_issue).
    """

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False
