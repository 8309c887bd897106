"""Who is calling: the client address behind NUM_PROXIES proxies, and token revocation on password change."""

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    """The address DRF's throttles key on (REMOTE_ADDR, or the NUM_PROXIES-th X-Forwarded-For entry from the right).

    django-axes calls this for the admin lockout, so the throttles and the lockout
    can never disagree about who the client is; a forged X-Forwarded-For only adds
    entries on the left, which are never read.
    """
    return BaseThrottle().get_ident(request) or None


class RevokeTokensOnPasswordChange:
    """A password "validator" that validates nothing: its password_changed() revokes the user's API tokens.

    Django calls password_changed() on every configured validator from
    AbstractBaseUser.save() after set_password(), whichever front door changed the
    password (admin forms, `changepassword`, a service, the shell), and not for the
    silent hash upgrade at login. It runs inside the save, before it returns.
    """

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            from scribes.services import user_tokens_revoke_all

            user_tokens_revoke_all(user=user)

    def get_help_text(self):
        return "Changing the password signs every API token out (all devices)."


class AdminLoginAxesHandler(AxesDatabaseHandler):
    """django-axes' database handler, counting failures of the admin login only.

    With AXES_ONLY_ADMIN_SITE axes locks only the admin, but it would still count
    wrong passwords sent to the API's /auth/token, so anyone could lock a staff
    member out of the admin through the API. The API has its own per-address throttle.
    """

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return None
        return super().user_login_failed(sender, credentials, request, **kwargs)


class AdminLoginAxesBackend(AxesStandaloneBackend):
    """django-axes' backend, except that authenticate() without a request passes through.

    axes raises on a call without a request; such a call (Django's test
    Client.login(), a script) is no admin login form and is not rate limited.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
