import time

import pytest

from accounts.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, username, password, ip):
    return client.post("/api/auth/login/", {"username": username, "password": password}, format="json",
                       REMOTE_ADDR=ip)


@pytest.fixture
def brakes(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "10000/min", "auth_username": "10000/min"}}
    settings.LOGIN_MAX_FAILURES_PER_CLIENT = 5
    settings.LOGIN_MAX_FAILURES_PER_IP = 20
    settings.LOGIN_SLOW_AFTER_FAILURES = 10
    settings.LOGIN_SLOW_MAX_SECONDS = 0.05
    settings.LOGIN_NOTIFY_AFTER_FAILURES = 10
    return settings


def test_one_client_guessing_one_username_gets_429_with_retry_after(anon, alice, brakes):
    codes = [_login(anon, "alice", f"guess{i}", "10.0.0.9").status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    r = _login(anon, "Alice", PASSWORD, "10.0.0.9")  # even the right password, from the client that guessed
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= brakes.LOGIN_FAILURE_WINDOW_SECONDS
    assert r.json()["error"]["code"] == "throttled"
    # another username from the same address is not locked out by alice's counter
    assert _login(anon, "bob", "x", "10.0.0.9").status_code == 401


def test_guessing_from_many_addresses_never_locks_the_owner_out(anon, alice, brakes):
    for i in range(40):  # 40 wrong passwords for alice from 8 addresses, 5 each (each client's limit)
        assert _login(anon, "alice", f"guess{i}", f"10.0.1.{i % 8}").status_code == 401
    started = time.monotonic()
    r = _login(anon, "alice", PASSWORD, "192.0.2.7")  # alice, from a client that has not failed
    assert r.status_code == 200, r.content
    assert time.monotonic() - started >= brakes.LOGIN_SLOW_MAX_SECONDS  # slowed, not refused
    assert "access_token" in r.json()


def test_one_address_failing_for_many_usernames_gets_429_for_any_username(anon, alice, brakes):
    """Failures are counted per address too (LOGIN_MAX_FAILURES_PER_IP): spraying usernames, 4 guesses each
    (under the per-username-and-address limit), stops at the address's limit, for alice's right password too;
    another address is not affected."""
    codes = [_login(anon, f"user{i // 4}", f"guess{i}", "10.0.6.1").status_code for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429]
    r = _login(anon, "alice", PASSWORD, "10.0.6.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "your address" in r.json()["error"]["message"]
    assert _login(anon, "alice", PASSWORD, "10.0.6.2").status_code == 200


def test_the_owner_is_told_once_after_n_failures_by_email_and_on_their_channels(anon, alice, brakes,
                                                                               mail_tasks_run_here):
    from django.core import mail

    from notifications.models import Outbox
    from notifications.services import channel_create

    brakes.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    desk = channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url="http://127.0.0.1:9/robot/send?access_token=test-token")
    assert "security" in desk.events  # a new channel wants every event, failed sign-ins included
    for i in range(14):
        _login(anon, "alice", f"guess{i}", f"10.0.2.{i % 4}")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "failed attempts" in mail.outbox[0].body and PASSWORD not in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="login.failures_alert", actor=alice).count() == 1
    alert = Outbox.objects.get(user=alice)  # one alert on her channel, once per window
    assert (alert.channel_id, alert.event, alert.severity) == (desk.pk, "security", "warning")
    assert alert.title == "Failed sign-in attempts on your account" and "10 failed attempts" in alert.text
    assert PASSWORD not in alert.text


def test_a_channel_that_does_not_want_security_alerts_gets_none(anon, alice, brakes):
    from notifications.models import Outbox
    from notifications.services import channel_create

    brakes.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    channel_create(owner=alice, kind="dingtalk", name="fills only", webhook_url="http://127.0.0.1:9/robot/send?access_token=test-token",
                   events=["fills"])
    for i in range(12):
        _login(anon, "alice", f"guess{i}", f"10.0.5.{i % 4}")
    assert AuditEvent.objects.filter(action="login.failures_alert", actor=alice).count() == 1
    assert not Outbox.objects.filter(user=alice).exists()


def test_a_spoofed_forwarded_for_header_does_not_reset_the_per_ip_count(anon, alice, brakes):
    codes = [anon.post("/api/auth/login/", {"username": "alice", "password": f"g{i}"}, format="json",
                       REMOTE_ADDR="10.0.3.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
                       HTTP_X_REAL_IP=f"203.0.113.{i}").status_code for i in range(7)]
    assert codes[5:] == [429, 429]
    assert set(AuditEvent.objects.filter(action="login.failure").values_list("ip", flat=True)) == {"10.0.3.1"}


def test_the_login_page_uses_the_same_brakes(alice, brakes):
    from django.test import Client

    page = Client(REMOTE_ADDR="10.0.4.1")
    for i in range(5):
        assert page.post("/login/", {"username": "alice", "password": f"g{i}"}).status_code == 200
    r = page.post("/login/", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 200 and b"Too many failed sign-ins" in r.content
    other = Client(REMOTE_ADDR="10.0.4.2")
    assert other.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_one_ip_spraying_many_usernames_gets_429(anon, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "10/min", "auth_username": "1000/min"}}
    codes = [anon.post("/api/auth/login/", {"username": f"user{i}", "password": "x"}, format="json").status_code
             for i in range(12)]
    assert codes.count(429) == 2 and codes[-1] == 429


def test_registration_is_throttled_per_ip(anon, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "3/min", "auth_username": "1000/min"}}
    codes = [anon.post("/api/auth/register/", {"username": f"new{i}", "password": "a long and fine passphrase"},
                       format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
