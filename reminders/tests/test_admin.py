"""Admin actions over the reminder services, and the status list kept in step."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from reminders.admin import ReminderAdmin
from reminders.models import Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    return client


def _act(admin_client, action, reminders):
    return admin_client.post(
        "/admin/reminders/reminder/",
        {"action": action, "_selected_action": [r.pk for r in reminders]},
        follow=True,
    )


def test_send_now_cancel_and_reset(admin_client, user, note):
    later = timezone.now() + timedelta(days=1)
    a, b = (Reminder.objects.create(user=user, note=note, scheduled_at=later) for _ in range(2))
    done = Reminder.objects.create(
        user=user, note=note, scheduled_at=later, status=ReminderStatus.SENT, sent_at=timezone.now()
    )

    response = _act(admin_client, "send_now", [a, done])
    assert "1 reminder(s) sent, 0 failed" in response.content.decode()
    assert len(mail.outbox) == 1

    response = _act(admin_client, "cancel", [a, b, done])
    assert "1 reminder(s) cancelled." in response.content.decode()
    assert Reminder.objects.get(pk=b.pk).status == ReminderStatus.CANCELLED

    response = _act(admin_client, "reset_to_pending", [a, b, done])
    assert "1 reminder(s) reset to pending" in response.content.decode()
    assert Reminder.objects.get(pk=b.pk).status == ReminderStatus.PENDING
    assert Reminder.objects.get(pk=done.pk).status == ReminderStatus.SENT

    # every action is in the operator audit list, with who did it, and the list is searchable
    from operations.models import OperatorAction

    audit = list(OperatorAction.objects.order_by("id").values_list("action", "actor__username", "count", "target"))
    assert audit == [
        ("reminders_send_now", "root", 1, f"reminders:{a.pk}"),
        ("reminders_cancel", "root", 1, f"reminders:{b.pk}"),
        ("reminders_reset", "root", 1, f"reminders:{b.pk}"),
    ]
    found = admin_client.get("/admin/operations/operatoraction/", {"q": "reminders_cancel"})
    assert [entry.action for entry in found.context["cl"].result_list] == ["reminders_cancel"]


def test_changelist_renders_and_filters_cover_every_status(admin_client, user, note):
    Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now())
    page = admin_client.get("/admin/reminders/reminder/?status__exact=pending")
    assert page.status_code == 200
    body = page.content.decode()
    for value in ReminderStatus.values:
        assert f"status__exact={value}" in body
    assert "status" in ReminderAdmin.list_filter
