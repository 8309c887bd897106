"""Who the client is: throttles and the admin lockout key on an address the client cannot choose."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_auth_limit(monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/min", "jobs": "2/min", "search": "2/min"})


def wrong_login(client, **extra):
    return client.post("/auth/token", {"username": "alice", "password": "wrong"}, format="json", **extra).status_code


def test_forged_x_forwarded_for_does_not_reset_the_login_throttle(user, tight_auth_limit, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    client = APIClient()
    assert [wrong_login(client) for _ in range(3)] == [401, 401, 401]
    forged = [wrong_login(client, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}") for i in range(5)]
    assert forged == [429] * 5


def test_behind_one_proxy_the_proxys_entry_counts_not_the_clients_own(user, tight_auth_limit, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    # nginx appends the address it saw: whatever the client put before it is ignored.
    codes = [wrong_login(client, HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 198.51.100.7") for i in range(4)]
    assert codes == [401, 401, 401, 429]
    # Another real client (another address appended by the proxy) has its own budget.
    assert wrong_login(client, HTTP_X_FORWARDED_FOR="198.51.100.8") == 401


def test_search_has_its_own_rate_limit(auth_client, tight_auth_limit, settings):
    settings.SEMANTIC_EMBEDDER = "hashing"
    codes = [auth_client.get("/semantic/search", {"q": "dogs"}).status_code for _ in range(3)]
    assert codes[-1] == 429 and 429 not in codes[:2]


def admin_login(client, username, password, address="192.0.2.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="root", password="right-pass-42", is_staff=True)


def test_a_failed_login_flood_from_one_address_does_not_lock_the_admin_out_elsewhere(client, staff, settings):
    attacker = "203.0.113.9"
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert admin_login(client, "root", f"wrong-{i}", address=attacker).status_code == 200
    # The failure that reaches the limit is answered with the lockout itself.
    assert admin_login(client, "root", "wrong-last", address=attacker).status_code == 429
    # That address is locked, even with the right password...
    assert admin_login(client, "root", "right-pass-42", address=attacker).status_code == 429
    assert not client.session.get("_auth_user_id")
    # ...the administrator, from their own address, is not.
    assert admin_login(client, "root", "right-pass-42", address="192.0.2.200").status_code == 302
    client.logout()
    call_command("axes_reset_username", "root")
    assert admin_login(client, "root", "right-pass-42", address=attacker).status_code == 302


def test_failures_for_one_username_from_many_addresses_do_not_add_up(client, staff, settings):
    for i in range(settings.AXES_FAILURE_LIMIT + 2):
        assert admin_login(client, "root", f"wrong-{i}", address=f"192.0.2.{i}").status_code == 200
    assert admin_login(client, "root", "right-pass-42", address="192.0.2.200").status_code == 302


def test_admin_login_locks_the_address_after_the_failure_limit(client, staff, settings):
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert admin_login(client, f"guess-{i}", "whatever").status_code == 200
    assert admin_login(client, "guess-last", "whatever").status_code == 429
    assert admin_login(client, "root", "right-pass-42").status_code == 429
    assert admin_login(client, "root", "right-pass-42", address="192.0.2.50").status_code == 302
    call_command("axes_reset_ip", "192.0.2.1")
    client.logout()
    assert admin_login(client, "root", "right-pass-42").status_code == 302


def test_the_admin_lockout_does_not_lock_the_api(user, settings):
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        assert wrong_login(client) == 401
    ok = client.post("/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json")
    assert ok.status_code == 200
    # Nor do the API's failures count towards locking the user out of the admin.
    assert not AccessAttempt.objects.exists()


def test_authenticate_without_a_request_still_works(client, staff):
    # Django's test Client.login() (and scripts) call authenticate() with no request.
    assert client.login(username="root", password="right-pass-42")
