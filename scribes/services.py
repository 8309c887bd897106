"""Writes for accounts and their API tokens."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken


@transaction.atomic
def user_register(*, username: str, email: str, password: str):
    User = get_user_model()
    return User.objects.create_user(username=username, email=email, password=password)


def user_token_issue(*, user) -> tuple[str, datetime]:
    """A new token for one login (each device gets its own); only its hash is stored.

    Returns the token, shown to the caller once, and when it expires (REST_KNOX TOKEN_TTL,
    fixed from now).
    """
    # Requests check only their own token's expiry; the user's other dead ones go here.
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, token = AuthToken.objects.create(user=user)
    return token, instance.expiry


def user_token_revoke(*, token: AuthToken) -> None:
    token.delete()


def user_tokens_revoke_all(*, user) -> int:
    """Revoke every API token of `user` (logout-all, password change); returns how many."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
