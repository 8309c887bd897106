"""API tokens: hashed at rest, one per login, fixed expiry, revoked by logout, logout-all and password change."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def login(username="alice", password="pw-alice-123") -> str:
    response = APIClient().post("/auth/token", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def notes_status(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/notes").status_code


def test_each_login_gets_its_own_token_with_a_fixed_expiry(user, settings):
    response = APIClient().post("/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json")
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at"} and body["token_type"] == "Bearer"
    expires_at = timezone.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    expected = timezone.now() + timedelta(days=settings.TOKEN_TTL_DAYS)
    assert abs((expires_at - expected).total_seconds()) < 60
    other_device = login()
    assert other_device != body["access_token"]
    assert notes_status(body["access_token"]) == notes_status(other_device) == 200
    # Fixed, not sliding: using a token does not move its expiry.
    stored = AuthToken.objects.get(token_key=other_device[:15])
    assert notes_status(other_device) == 200
    stored_after = AuthToken.objects.get(token_key=other_device[:15])
    assert stored_after.expiry == stored.expiry


def test_the_database_holds_no_usable_token(user):
    token = login()
    stored = AuthToken.objects.get(user=user)
    values = [str(value) for value in AuthToken.objects.values_list(flat=False).get()]
    assert token not in values and not any(token in value for value in values)
    assert stored.digest != token and len(stored.digest) == 128  # sha512 of the token
    # What is stored, sent back as a token, authenticates nobody.
    assert notes_status(stored.digest) == 401
    assert notes_status(stored.token_key) == 401


def test_an_expired_token_is_refused_and_deleted(user):
    token = login()
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    assert notes_status(token) == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_logout_revokes_only_this_token(user):
    phone, laptop = login(), login()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone}")
    assert client.post("/auth/logout").status_code == 204
    assert notes_status(phone) == 401
    assert notes_status(laptop) == 200
    assert client.post("/auth/logout").status_code == 401


def test_logout_all_revokes_every_token_of_the_caller_only(user, other_user):
    phone, laptop = login(), login()
    bobs = login("bob", "pw-bob-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop}")
    response = client.post("/auth/logout-all/")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert notes_status(phone) == notes_status(laptop) == 401
    assert notes_status(bobs) == 200


def test_logout_needs_a_token(client, user):
    client.force_login(user)  # a session has no token to revoke
    assert client.post("/auth/logout").status_code == 401


def test_changepassword_command_revokes_every_token(user, monkeypatch):
    token = login()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-long-passphrase-7")
    call_command("changepassword", "alice")
    assert notes_status(token) == 401
    assert notes_status(login(password="a-new-long-passphrase-7")) == 200


def test_admin_password_change_revokes_the_users_tokens(user, admin_client):
    token = login()
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "a-new-long-passphrase-7", "password2": "a-new-long-passphrase-7", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert notes_status(token) == 401


def test_set_password_and_save_anywhere_revokes_but_the_login_hash_upgrade_does_not(user):
    token = login()
    user.refresh_from_db()
    # check_password() may re-hash and save the password (a hasher upgrade): not a change.
    user.check_password("pw-alice-123")
    user.set_password("pw-alice-123")  # what check_password's upgrade calls, then saves without _password
    user._password = None
    user.save(update_fields=["password"])
    assert notes_status(token) == 200
    user.set_password("a-new-long-passphrase-7")
    user.save()
    assert notes_status(token) == 401


def test_admin_lists_tokens_without_any_key(user, admin_client):
    token = login()
    response = admin_client.get("/admin/knox/authtoken/")
    assert response.status_code == 200
    page = response.content.decode()
    stored = AuthToken.objects.get(user=user)
    assert "alice" in page
    assert token not in page
    assert token[:15] not in page  # not even the prefix knox indexes on
    # The row's primary key is the token's sha512 digest (in change links): a hash, useless as a token.
    assert notes_status(stored.digest) == 401
    assert admin_client.get("/admin/knox/authtoken/add/").status_code == 403


def test_a_token_is_checked_in_one_query_however_many_the_user_has(user, django_assert_num_queries):
    from scribes.authentication import BearerTokenAuthentication

    tokens = [login() for _ in range(5)]
    AuthToken.objects.filter(user=user).exclude(token_key=tokens[0][:15]).update(
        expiry=timezone.now() - timedelta(days=1)
    )
    with django_assert_num_queries(1):
        authenticated, _ = BearerTokenAuthentication().authenticate_credentials(tokens[0].encode())
    assert authenticated == user
    # The user's expired tokens are pruned at the next login instead.
    login()
    assert AuthToken.objects.filter(user=user).count() == 2
