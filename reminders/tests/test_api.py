"""/reminders: a user's own reminders, aware times, 409 on sent, 404 on others'."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notes.models import Note
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


def test_create_list_filter_and_trailing_slash(auth_client, note):
    created = auth_client.post(
        "/reminders", {"note_id": note.pk, "scheduled_at": "2030-01-31T09:00:00+01:00"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["note_id"] == note.pk and body["status"] == "pending" and body["attempts"] == 0
    assert body["scheduled_at"] == "2030-01-31T08:00:00Z"  # stored and shown in UTC
    listed = auth_client.get("/reminders/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert auth_client.get("/reminders?status=pending").json()["count"] == 1
    assert auth_client.get("/reminders?status=sent").json()["count"] == 0
    bad = auth_client.get("/reminders?status=lost")
    assert bad.status_code == 400 and "status" in bad.json()


def test_naive_time_is_400_with_a_message(auth_client, note):
    response = auth_client.post(
        "/reminders", {"note_id": note.pk, "scheduled_at": "2030-01-31T09:00:00"}, format="json"
    )
    assert response.status_code == 400
    assert "UTC offset" in response.json()["scheduled_at"][0]
    garbage = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": "tomorrow"}, format="json")
    assert garbage.status_code == 400 and "scheduled_at" in garbage.json()


def test_another_users_note_is_400_and_reminder_is_404(auth_client, other_client, other_user, note):
    theirs = Note.objects.create(user=other_user, title="secret")
    response = auth_client.post(
        "/reminders", {"note_id": theirs.pk, "scheduled_at": "2030-01-31T09:00:00Z"}, format="json"
    )
    assert response.status_code == 400 and "note_id" in response.json()
    mine = Reminder.objects.create(user=note.user, note=note, scheduled_at=timezone.now())
    assert other_client.get(f"/reminders/{mine.pk}").status_code == 404
    assert other_client.patch(f"/reminders/{mine.pk}", {"scheduled_at": "2030-01-01T00:00:00Z"}).status_code == 404
    assert other_client.delete(f"/reminders/{mine.pk}").status_code == 404
    assert other_client.get("/reminders").json()["count"] == 0
    assert Reminder.objects.filter(pk=mine.pk).exists()


def test_edit_pending_rearm_failed_and_409_on_sent(auth_client, user, note):
    reminder = Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(days=1))
    moved = auth_client.patch(f"/reminders/{reminder.pk}/", {"scheduled_at": "2031-05-01T10:00:00Z"}, format="json")
    assert moved.status_code == 200 and moved.json()["scheduled_at"] == "2031-05-01T10:00:00Z"

    Reminder.objects.filter(pk=reminder.pk).update(status=ReminderStatus.FAILED, attempts=5, last_error="x")
    rearmed = auth_client.patch(f"/reminders/{reminder.pk}", {"scheduled_at": "2031-05-02T10:00:00Z"}, format="json")
    assert rearmed.json()["status"] == "pending" and rearmed.json()["attempts"] == 0

    Reminder.objects.filter(pk=reminder.pk).update(status=ReminderStatus.SENT, sent_at=timezone.now())
    conflict = auth_client.patch(f"/reminders/{reminder.pk}", {"scheduled_at": "2031-05-03T10:00:00Z"}, format="json")
    assert conflict.status_code == 409 and "already sent" in conflict.json()["detail"]
    assert auth_client.delete(f"/reminders/{reminder.pk}").status_code == 204


def test_status_is_read_only_and_anonymous_is_401(auth_client, api_client, note):
    response = auth_client.post(
        "/reminders",
        {"note_id": note.pk, "scheduled_at": "2030-01-31T09:00:00Z", "status": "sent"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "pending"
    assert api_client.get("/reminders").status_code == 401


def test_schema_documents_reminders(auth_client):
    schema = auth_client.get("/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/reminders/{id}" in text and "ReminderRequest" in text and "409" in text
