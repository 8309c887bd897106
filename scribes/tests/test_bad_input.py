"""Input that used to be a 500: impossible dates, deep nesting, control characters, dates at the edge of time."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notes.models import Note
from reminders import services as reminder_services
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(user):
    return Note.objects.create(user=user, title="Buy milk", content="Two litres.")


@pytest.mark.parametrize(
    "when",
    [
        "2030-13-45T99:00:00Z",  # month 13, day 45, hour 99
        "2030-02-30T09:00:00Z",  # 30 February
        "2030-01-31T09:00:00+25:00",  # no such offset
        "2031-02-29T09:00:00Z",  # not a leap year
        "9999-12-31T23:00:00-05:00",  # past year 9999 in UTC
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
    ],
)
def test_impossible_times_are_a_400_that_says_so(auth_client, note, when):
    response = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": when}, format="json")
    assert response.status_code == 400, response.content
    assert "scheduled_at" in response.json()
    assert Reminder.objects.count() == 0


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(days=-2), False),
        (timedelta(hours=-23), True),
        (timedelta(days=365 * 9), True),
        (timedelta(days=365 * 11), False),
    ],
)
def test_scheduled_at_lies_between_a_day_ago_and_ten_years_ahead(auth_client, note, offset, accepted):
    when = (timezone.now() + offset).isoformat()
    response = auth_client.post("/reminders", {"note_id": note.pk, "scheduled_at": when}, format="json")
    assert response.status_code == (201 if accepted else 400), response.content
    if not accepted:
        assert "ten years" in response.json()["scheduled_at"][0]


@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_deeply_nested_json_is_a_400(auth_client, depth):
    body = "[" * depth + "]" * depth
    response = auth_client.generic("POST", "/notes", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]


def test_nesting_within_the_limit_still_parses(auth_client):
    body = '{"title": "t", "content": "c", "extra": ' + "[" * 30 + "]" * 30 + "}"
    assert auth_client.generic("POST", "/notes", body, content_type="application/json").status_code == 201


@pytest.mark.parametrize(
    "title", ["Buy\r\nBcc: victim@example.com", "line\nbreak", "tab\there", "nul\x00", "line\u2028separator"]
)
def test_titles_with_control_characters_are_refused(auth_client, title):
    response = auth_client.post("/notes", {"title": title, "content": ""}, format="json")
    assert response.status_code == 400
    assert "control characters" in response.json()["title"][0]


def test_unicode_titles_are_still_welcome(auth_client):
    assert auth_client.post("/notes", {"title": "Café — 日本語 🎉", "content": ""}, format="json").status_code == 201


def test_a_title_with_crlf_already_stored_cannot_break_delivery(user):
    # Written before the API refused it (or through the admin).
    note = Note.objects.create(user=user, title="Buy milk\r\nBcc: victim@example.com", content="x")
    reminder = Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() - timedelta(minutes=1))
    result = reminder_services.reminders_sweep()
    assert (result.sent, result.failed) == (1, 0)
    assert Reminder.objects.get(pk=reminder.pk).status == ReminderStatus.SENT
    assert mail.outbox[0].subject == "Buy milk Bcc: victim@example.com"
    assert mail.outbox[0].bcc == []


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    return client


@pytest.mark.parametrize(
    "query", ["scheduled_at__year=9999", "scheduled_at__year=9999&scheduled_at__month=12",
              "scheduled_at__year=9999&scheduled_at__month=12&scheduled_at__day=31", "scheduled_at__year=1"],
)  # fmt: skip
def test_admin_date_hierarchy_reaches_the_edges_of_time(admin_client, user, note, query):
    last = Reminder.objects.create(user=user, note=note, scheduled_at=datetime(9999, 12, 31, 12, tzinfo=UTC))
    first = Reminder.objects.create(user=user, note=note, scheduled_at=datetime(1, 1, 1, 12, tzinfo=UTC))
    Reminder.objects.create(user=user, note=note, scheduled_at=datetime(2030, 1, 1, tzinfo=UTC))
    response = admin_client.get(f"/admin/reminders/reminder/?{query}")
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == ([first] if query.endswith("=1") else [last])


def test_health_names_no_path_or_host(api_client, redis_conn, settings):
    from semantic.embedders import default_model_path

    body = api_client.get("/health").content.decode()
    path = str(default_model_path() or settings.BASE_DIR)
    assert path not in body and str(settings.BASE_DIR) not in body
    assert "127.0.0.1" not in body and "6379" not in body
