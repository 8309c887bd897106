"""Notes CRUD: ownership, pagination, trailing slashes, bad input."""

import pytest

from notes.models import Note

pytestmark = pytest.mark.django_db


def test_crud_round_trip(auth_client, user):
    created = auth_client.post("/notes", {"title": "First", "content": "hello"}, format="json")
    assert created.status_code == 201
    note_id = created.json()["id"]
    assert set(created.json()) == {"id", "title", "content", "created_at", "updated_at"}

    assert auth_client.get(f"/notes/{note_id}").json()["title"] == "First"
    updated = auth_client.patch(f"/notes/{note_id}/", {"content": "changed"}, format="json")
    assert updated.status_code == 200 and updated.json()["content"] == "changed"
    replaced = auth_client.put(f"/notes/{note_id}", {"title": "T2", "content": "c2"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["title"] == "T2"
    assert auth_client.delete(f"/notes/{note_id}").status_code == 204
    assert not Note.objects.filter(pk=note_id).exists()


def test_users_see_only_their_own_notes(auth_client, other_client, other_user):
    theirs = Note.objects.create(user=other_user, title="secret")
    assert auth_client.get(f"/notes/{theirs.pk}").status_code == 404
    assert auth_client.patch(f"/notes/{theirs.pk}", {"title": "x"}, format="json").status_code == 404
    assert auth_client.delete(f"/notes/{theirs.pk}").status_code == 404
    assert auth_client.get("/notes").json()["count"] == 0
    assert other_client.get("/notes").json()["count"] == 1


def test_list_is_paginated_with_capped_page_size(auth_client, user):
    Note.objects.bulk_create([Note(user=user, title=f"n{i}") for i in range(25)])
    page = auth_client.get("/notes").json()
    assert page["count"] == 25 and len(page["results"]) == 20 and page["next"]
    assert len(auth_client.get("/notes?page_size=5").json()["results"]) == 5
    assert len(auth_client.get("/notes/?page_size=1000").json()["results"]) == 25  # capped at 100
    assert auth_client.get("/notes?page=99").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"title": ""},
        {"title": 123, "content": ["not", "a", "string"]},
        {"title": "x" * 201},
        {"title": "ok", "content": "x" * 100_001},
    ],
)
def test_invalid_note_input_is_400_with_field_errors(auth_client, payload):
    response = auth_client.post("/notes", payload, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict) and response.json()


def test_malformed_json_is_400_json(auth_client):
    response = auth_client.post("/notes", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_unknown_ids_and_paths_are_json_404(auth_client):
    assert auth_client.get("/notes/999999").status_code == 404
    response = auth_client.get("/notes/not-a-number")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert auth_client.get("/no/such/path").json() == {"detail": "Not found."}
