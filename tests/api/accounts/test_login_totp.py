"""With two-factor codes on, a password alone signs in nowhere: API challenge + code, page second step."""

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import TotpRecoveryCode
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_2fa(api, alice):
    client = api(alice)
    secret = client.post("/api/auth/totp/").json()["secret"]
    totp = pyotp.TOTP(secret)
    step = totp.timecode(timezone.now())
    r = client.post("/api/auth/totp/confirm/", {"code": totp.generate_otp(step - 1)}, format="json")
    assert r.status_code == 200, r.content
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return {"totp": totp, "step": step, "recovery": codes}


def _password(anon):
    r = anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def _code(anon, challenge, code):
    return anon.post("/api/auth/login/totp/", {"challenge": challenge, "code": code}, format="json")


def test_the_password_alone_gives_a_challenge_and_no_tokens(anon, alice_2fa):
    body = _password(anon)
    assert body["totp_required"] is True and body["challenge"]
    assert "access_token" not in body and "refresh_token" not in body


def test_challenge_and_code_give_the_tokens_and_the_challenge_is_single_use(anon, alice_2fa):
    challenge = _password(anon)["challenge"]
    r = _code(anon, challenge, alice_2fa["totp"].generate_otp(alice_2fa["step"]))
    assert r.status_code == 200, r.content
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['access_token']}")
    assert anon.get("/api/auth/me/").json()["username"] == "alice"
    anon.credentials()
    again = _code(anon, challenge, alice_2fa["totp"].generate_otp(alice_2fa["step"] + 1))
    assert again.status_code == 401 and again.json()["error"]["code"] == "challenge_invalid"


def test_a_used_or_wrong_code_is_refused(anon, alice_2fa):
    spent = alice_2fa["totp"].generate_otp(alice_2fa["step"] - 1)  # used to turn codes on
    challenge = _password(anon)["challenge"]
    r = _code(anon, challenge, spent)
    assert r.status_code == 401 and r.json()["error"]["code"] == "totp_invalid"
    assert _code(anon, challenge, "000000").status_code == 401
    # the challenge survives a wrong code (up to the limit) and then a right one works
    assert _code(anon, challenge, alice_2fa["totp"].generate_otp(alice_2fa["step"])).status_code == 200


def test_a_challenge_dies_after_too_many_wrong_codes(anon, alice_2fa, settings):
    settings.TOTP_CHALLENGE_MAX_TRIES = 3
    challenge = _password(anon)["challenge"]
    for _ in range(3):
        assert _code(anon, challenge, "recovery-xx").json()["error"]["code"] == "totp_invalid"
    r = _code(anon, challenge, alice_2fa["totp"].generate_otp(alice_2fa["step"]))
    assert r.json()["error"]["code"] == "challenge_invalid"


def test_a_recovery_code_works_once(anon, alice_2fa):
    code = alice_2fa["recovery"][0]
    assert _code(anon, _password(anon)["challenge"], code.upper()).status_code == 200
    r = _code(anon, _password(anon)["challenge"], code)
    assert r.status_code == 401
    assert TotpRecoveryCode.objects.filter(used_at__isnull=False).count() == 1
    assert not TotpRecoveryCode.objects.filter(code_hash__icontains=code.replace("-", "")).exists()


def test_a_forged_or_foreign_challenge_is_refused(anon, alice_2fa, bob):
    assert _code(anon, "forged", "123456").json()["error"]["code"] == "challenge_invalid"
    challenge = _password(anon)["challenge"]
    tampered = challenge[:-2] + ("AA" if not challenge.endswith("AA") else "BB")
    assert _code(anon, tampered, alice_2fa["totp"].generate_otp(alice_2fa["step"])).status_code == 401


def test_the_login_page_asks_for_the_code_before_any_session(alice_2fa):
    page = Client()
    r = page.post("/login/?next=/bots/", {"username": "alice", "password": PASSWORD, "next": "/bots/"})
    assert r.status_code == 302 and r["Location"] == "/login/totp/"
    assert page.get("/api/auth/me/").status_code in (401, 403)  # not signed in yet
    assert page.get("/").status_code == 302
    r = page.post("/login/totp/", {"code": "000000"})
    assert r.status_code == 200 and b"not right" in r.content
    r = page.post("/login/totp/", {"code": alice_2fa["totp"].generate_otp(alice_2fa["step"])})
    assert r.status_code == 302 and r["Location"] == "/bots/"
    assert page.get("/api/auth/me/").json()["username"] == "alice"


def test_the_setup_page_shows_a_server_drawn_qr_code_and_recovery_codes_once(alice):
    page = Client()
    page.force_login(alice)
    r = page.post("/account/totp/", {"action": "start"})
    html = r.content.decode()
    assert 'data-testid="totp-qr"' in html and "<svg" in html and "<script" not in html
    from accounts.models import TotpDevice
    from config.vault import vault

    secret = vault().decrypt(TotpDevice.objects.get(user=alice).secret_enc)
    r = page.post("/account/totp/", {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200 and b'data-testid="totp-recovery-codes"' in r.content
    assert TotpRecoveryCode.objects.filter(user=alice).count() == 10
    assert b"totp-recovery-codes" not in page.get("/account/totp/").content
