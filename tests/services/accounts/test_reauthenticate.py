"""accounts.services.user_reauthenticate: one password-or-TOTP check, with one failure counter."""

import time

import pyotp
import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent
from accounts.services import (
    ReauthFailed,
    ReauthTooManyAttempts,
    totp_enroll_confirm,
    totp_enroll_start,
    user_reauthenticate,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_totp(alice):
    _, secret = totp_enroll_start(user=alice)
    totp = pyotp.TOTP(secret)
    totp_enroll_confirm(user=alice, code=totp.generate_otp(totp.timecode(timezone.now()) - 1))
    alice.refresh_from_db()
    return totp


def _refused(**kwargs) -> ReauthFailed:
    with pytest.raises(ReauthFailed) as caught:
        user_reauthenticate(**kwargs)
    return caught.value


def test_the_right_password_passes_and_says_how(alice):
    assert user_reauthenticate(user=alice, password=PASSWORD) == "password"


def test_a_wrong_password_is_a_403_naming_the_field(alice):
    err = _refused(user=alice, password="not my password")
    assert err.code == "reauthentication_failed" and err.status == 403
    assert err.fields == {"password": ["That password is not right."]}


def test_nothing_given_asks_for_a_password_or_a_code(alice):
    err = _refused(user=alice)
    assert "password or a two-factor code" in err.message and "password" in err.fields


def test_a_totp_code_passes_once_and_is_then_spent(alice, alice_totp):
    code = alice_totp.now()
    assert user_reauthenticate(user=alice, totp=f" {code} ") == "totp"
    err = _refused(user=alice, totp=code)
    assert err.fields == {"totp": ["That code is not right."]}


def test_a_code_without_totp_set_up_is_refused_with_a_hint(alice):
    err = _refused(user=alice, totp="123456")
    assert "not set up" in err.message and err.fields == {"totp": ["Not set up for this account."]}


def test_a_wrong_code_also_counts_against_totps_own_limit(alice, alice_totp):
    wrong = f"{(int(alice_totp.now()) + 1) % 1_000_000:06d}"
    _refused(user=alice, totp=wrong)
    assert AuditEvent.objects.filter(actor=alice, action="totp.verify_failed").count() == 1


def test_five_failures_lock_every_attempt_even_the_right_one_until_the_window_passes(alice, bob, monkeypatch):
    monkeypatch.setattr(services, "REAUTH_WINDOW_SECONDS", 2)
    for _ in range(services.REAUTH_MAX_FAILURES):
        _refused(user=alice, password="wrong password")
    with pytest.raises(ReauthTooManyAttempts) as caught:
        user_reauthenticate(user=alice, password=PASSWORD)
    assert caught.value.code == "too_many_attempts" and caught.value.status == 429
    assert user_reauthenticate(user=bob, password=PASSWORD) == "password"  # the counter is per user
    time.sleep(2.2)
    assert user_reauthenticate(user=alice, password=PASSWORD) == "password"


def test_a_success_does_not_reset_the_count(alice):
    """A guesser who also knows one right answer gets no fresh attempts from it."""
    for _ in range(services.REAUTH_MAX_FAILURES - 1):
        _refused(user=alice, password="wrong password")
    assert user_reauthenticate(user=alice, password=PASSWORD) == "password"
    _refused(user=alice, password="wrong password")
    with pytest.raises(ReauthTooManyAttempts):
        user_reauthenticate(user=alice, password=PASSWORD)


def test_turning_totp_off_goes_through_it(api, alice, alice_totp):
    client = api(alice)
    for _ in range(services.REAUTH_MAX_FAILURES):
        r = client.delete("/api/auth/totp/", {"password": "not my password"}, format="json")
        assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_failed"
    r = client.delete("/api/auth/totp/", {"password": PASSWORD}, format="json")
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert client.get("/api/auth/me/").json()["totp_enabled"] is True
    assert AuditEvent.objects.filter(actor=alice, action="totp.disable_refused").count() == 6
