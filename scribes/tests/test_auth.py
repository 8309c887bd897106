"""Registration and Bearer tokens."""

import pytest

pytestmark = pytest.mark.django_db


def test_register_then_token_then_authenticated_call(api_client):
    response = api_client.post(
        "/auth/register",
        {"username": "carol", "email": "carol@example.com", "password": "a-long-passphrase-42"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "carol"
    assert "password" not in response.json()

    response = api_client.post("/auth/token", {"username": "carol", "password": "a-long-passphrase-42"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and len(body["access_token"]) >= 20

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/notes").status_code == 200


def test_wrong_credentials_are_401_with_message(api_client, user):
    response = api_client.post("/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username or password."}


def test_register_rejects_duplicate_username_and_weak_password(api_client, user):
    response = api_client.post(
        "/auth/register",
        {"username": "ALICE", "email": "a2@example.com", "password": "another-long-pass-1"},
        format="json",
    )
    assert response.status_code == 400
    assert "username" in response.json()
    response = api_client.post(
        "/auth/register", {"username": "dave", "email": "dave@example.com", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()


def test_bad_token_is_401_and_missing_token_is_401(api_client):
    assert api_client.get("/notes").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get("/notes")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_session_auth_works_for_browsable_api(client, user):
    client.force_login(user)
    assert client.get("/notes").status_code == 200
