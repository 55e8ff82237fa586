"""Releasing your own kill switch with a TOTP code (accounts.services.totp_verify)."""

import pyotp
import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import totp_enroll_confirm, totp_enroll_start
from risk.models import KillSwitch
from risk.services import kill_switch_engage

pytestmark = pytest.mark.django_db
URL = "/api/system/kill-switch/"


@pytest.fixture
def alice_totp(alice):
    _, secret = totp_enroll_start(user=alice)
    totp = pyotp.TOTP(secret)
    totp_enroll_confirm(user=alice, code=totp.generate_otp(totp.timecode(timezone.now()) - 1))
    alice.refresh_from_db()
    return totp


def engaged(user):
    return KillSwitch.objects.get(key=f"user:{user.pk}").engaged


def test_a_valid_code_releases_the_switch(api, alice, alice_totp):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(alice).delete(URL, {"totp": alice_totp.now()}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["engaged"] is False and not engaged(alice)
    assert AuditEvent.objects.get(actor=alice, action="kill_switch.release").details["reauth"] == "totp"


def test_a_wrong_code_is_refused(api, alice, alice_totp):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    wrong = f"{(int(alice_totp.now()) + 1) % 1_000_000:06d}"
    r = api(alice).delete(URL, {"totp": wrong}, format="json")
    assert r.status_code == 403 and r.json()["error"]["fields"]["totp"]
    assert engaged(alice)
    assert AuditEvent.objects.filter(actor=alice, action="kill_switch.release_refused").exists()


def test_a_used_code_cannot_release_again(api, alice, alice_totp):
    code = alice_totp.now()
    kill_switch_engage(scope="user", user=alice, actor=alice)
    assert api(alice).delete(URL, {"totp": code}, format="json").status_code == 200
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(alice).delete(URL, {"totp": code}, format="json")
    assert r.status_code == 403 and engaged(alice)
