"""TOTP second factor over the API: enrol, confirm, replay protection, disable, secrecy, ownership."""

import logging

import pyotp
import pytest
from django.utils import timezone

from accounts.models import AuditEvent, TotpDevice
from accounts.services import totp_verify
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/auth/totp/"
CONFIRM = "/api/auth/totp/confirm/"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _enrol(client) -> str:
    r = client.post(URL)
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/") and f"secret={body['secret']}" in body["otpauth_uri"]
    return body["secret"]


def test_enrol_confirm_wrong_then_right_code_and_me_reports_it(api, alice):
    client = api(alice)
    secret = _enrol(client)
    assert client.get("/api/auth/me/").json()["totp_enabled"] is False  # not on until confirmed
    code = pyotp.TOTP(secret).now()

    r = client.post(CONFIRM, {"code": _wrong(code)}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "totp_invalid"
    assert r.json()["error"]["fields"]["code"]
    assert client.get("/api/auth/me/").json()["totp_enabled"] is False

    r = client.post(CONFIRM, {"code": code}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["totp_enabled"] is True and len(r.json()["recovery_codes"]) == 10
    assert client.get("/api/auth/me/").json()["totp_enabled"] is True
    assert AuditEvent.objects.filter(actor=alice, action="totp.enable").count() == 1
    assert AuditEvent.objects.filter(actor=alice, action="totp.verify_failed").count() == 1


def test_the_secret_is_stored_encrypted_and_never_returned_again(api, alice, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(alice)
    secret = _enrol(client)
    code = pyotp.TOTP(secret).now()
    device = TotpDevice.objects.get(user=alice)
    assert secret not in device.secret_enc and device.enc_key_id
    client.post(CONFIRM, {"code": code}, format="json")

    responses = [client.get("/api/auth/me/"), client.post(URL), client.post(CONFIRM, {"code": code}, format="json"),
                 client.delete(URL, {"password": "wrong"}, format="json")]
    assert responses[1].status_code == 409  # no re-enrolment (and no secret) while it's on
    for r in responses:
        assert secret not in r.content.decode()
    audits = " ".join(str(a.details) + a.target for a in AuditEvent.objects.all())
    assert secret not in audits and code not in audits
    assert secret not in caplog.text and code not in caplog.text


def test_a_code_cannot_be_replayed(api, alice):
    client = api(alice)
    secret = _enrol(client)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(timezone.now())
    assert client.post(CONFIRM, {"code": totp.generate_otp(step)}, format="json").status_code == 200
    alice.refresh_from_db()
    # the code used to confirm is spent; so is any code of an earlier step
    assert totp_verify(user=alice, code=totp.generate_otp(step)) is False
    assert totp_verify(user=alice, code=totp.generate_otp(step - 1)) is False
    # the next step's code (within the ±1 window) works exactly once
    assert totp_verify(user=alice, code=totp.generate_otp(step + 1)) is True
    assert totp_verify(user=alice, code=totp.generate_otp(step + 1)) is False
    # outside the window: refused
    assert totp_verify(user=alice, code=totp.generate_otp(step + 3)) is False
    assert AuditEvent.objects.filter(actor=alice, action="totp.verify_failed").count() == 4


def test_junk_codes_are_refused_cleanly(api, alice):
    client = api(alice)
    _enrol(client)
    for junk in ["", "abcdef", "1234567890", "12 34"]:
        r = client.post(CONFIRM, {"code": junk}, format="json")
        assert r.status_code == 400, (junk, r.content)
        assert "error" in r.json()
    assert client.post(CONFIRM, {}, format="json").status_code == 400


def test_confirm_before_start_is_a_clear_409(api, alice):
    r = api(alice).post(CONFIRM, {"code": "123456"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "totp_not_started"


def test_disable_needs_the_password(api, alice):
    client = api(alice)
    secret = _enrol(client)
    client.post(CONFIRM, {"code": pyotp.TOTP(secret).now()}, format="json")

    r = client.delete(URL, {"password": "not my password"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["fields"]["password"]
    assert client.get("/api/auth/me/").json()["totp_enabled"] is True
    assert client.delete(URL, {}, format="json").status_code == 400

    r = client.delete(URL, {"password": PASSWORD}, format="json")
    assert r.status_code == 200 and r.json() == {"totp_enabled": False}
    assert client.get("/api/auth/me/").json()["totp_enabled"] is False
    assert not TotpDevice.objects.filter(user=alice).exists()
    assert AuditEvent.objects.filter(actor=alice, action="totp.disable").count() == 1
    alice.refresh_from_db()
    assert totp_verify(user=alice, code=pyotp.TOTP(secret).now()) is False  # old app no longer works
    assert client.delete(URL, {"password": PASSWORD}, format="json").status_code == 409


def test_another_user_cannot_touch_it(api, alice, bob):
    secret = _enrol(api(alice))
    code = pyotp.TOTP(secret).now()
    # bob confirming alice's code only acts on bob's own (absent) enrolment
    r = api(bob).post(CONFIRM, {"code": code}, format="json")
    assert r.status_code == 409
    api(alice).post(CONFIRM, {"code": code}, format="json")
    # bob can't turn alice's off (his own request, his own password, his own state)
    r = api(bob).delete(URL, {"password": PASSWORD}, format="json")
    assert r.status_code == 409
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert alice.totp_enabled and not bob.totp_enabled
    assert TotpDevice.objects.get(user=alice).confirmed_at is not None
    # and a code from alice's secret is not a code for bob
    assert totp_verify(user=bob, code=pyotp.TOTP(secret).now()) is False


def test_anonymous_is_refused(anon):
    assert anon.post(URL).status_code == 401
    assert anon.post(CONFIRM, {"code": "123456"}, format="json").status_code == 401


def test_too_many_wrong_codes_lock_verification(api, alice):
    client = api(alice)
    secret = _enrol(client)
    totp = pyotp.TOTP(secret)
    for _ in range(10):
        assert client.post(CONFIRM, {"code": _wrong(totp.now())}, format="json").status_code == 400
    r = client.post(CONFIRM, {"code": totp.now()}, format="json")
    assert r.status_code == 429
