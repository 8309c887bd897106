"""Object-level authorization and limits across every endpoint that takes an id.

User B gets 404 (never 403, never the object) for each of user A's objects, so
ids cannot even be probed.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from common import queues
from jobs.models import BackgroundJob
from notes.models import Note
from reminders.models import Reminder

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_objects(user):
    note = Note.objects.create(user=user, title="alice's note", content="private")
    reminder = Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(days=1))
    job = BackgroundJob.objects.create(user=user, job_type="regenerate_embeddings", queue=queues.SEMANTIC)
    return {"note": note.pk, "reminder": reminder.pk, "job": job.pk}


ENDPOINTS = [
    ("get", "/notes/{note}", None),
    ("put", "/notes/{note}", {"title": "mine now", "content": "x"}),
    ("patch", "/notes/{note}/", {"title": "mine now"}),
    ("delete", "/notes/{note}", None),
    ("get", "/reminders/{reminder}", None),
    ("put", "/reminders/{reminder}", {"note_id": 0, "scheduled_at": "2030-01-01T00:00:00Z"}),
    ("patch", "/reminders/{reminder}/", {"scheduled_at": "2030-01-01T00:00:00Z"}),
    ("delete", "/reminders/{reminder}", None),
    ("get", "/jobs/{job}", None),
    ("get", "/jobs/{job}/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_other_users_objects_are_404(other_client, alice_objects, method, path, body):
    response = getattr(other_client, method)(path.format(**alice_objects), body, format="json")
    assert response.status_code == 404, (method, path, response.content)
    assert "private" not in response.content.decode()


def test_others_objects_are_untouched(other_client, alice_objects):
    for method, path, body in ENDPOINTS:
        getattr(other_client, method)(path.format(**alice_objects), body, format="json")
    assert Note.objects.get(pk=alice_objects["note"]).title == "alice's note"
    assert Reminder.objects.filter(pk=alice_objects["reminder"]).exists()


def test_cannot_attach_a_reminder_to_another_users_note(other_client, alice_objects):
    response = other_client.post(
        "/reminders", {"note_id": alice_objects["note"], "scheduled_at": "2030-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert "note_id" in response.json()


def test_lists_and_search_show_only_own_objects(other_client, alice_objects):
    assert other_client.get("/notes").json()["count"] == 0
    assert other_client.get("/reminders").json()["count"] == 0
    assert other_client.get("/jobs").json()["count"] == 0
    search = other_client.get("/semantic/search?q=private")
    assert search.status_code in (200, 503)
    assert "alice's note" not in search.content.decode()


def test_pending_reminder_count_per_user_is_capped(auth_client, user, settings):
    settings.REMINDER_MAX_PENDING_PER_USER = 2
    note = Note.objects.create(user=user, title="t")
    body = {"note_id": note.pk, "scheduled_at": "2030-01-01T00:00:00Z"}
    assert [auth_client.post("/reminders", body, format="json").status_code for _ in range(2)] == [201, 201]
    response = auth_client.post("/reminders", body, format="json")
    assert response.status_code == 400
    assert "2 pending reminders" in response.json()["detail"]
    assert Reminder.objects.filter(user=user).count() == 2


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/semantic/search?q=" + "x" * 5000, 400), ("/semantic/search?q=", 400), ("/notes?page_size=100000", 200)],
)
def test_query_limits(auth_client, path, expected):
    assert auth_client.get(path).status_code == expected
