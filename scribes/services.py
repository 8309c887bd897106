"""Writes for accounts."""

from django.contrib.auth import get_user_model
from django.db import transaction


@transaction.atomic
def user_register(*, username: str, email: str, password: str):
    User = get_user_model()
    return User.objects.create_user(username=username, email=email, password=password)
