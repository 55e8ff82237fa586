"""`manage.py rotate_encryption_keys` re-encrypts TOTP secrets too; codes still verify with only the new key."""

import io

import pyotp
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from accounts.models import TotpDevice
from accounts.services import totp_enroll_confirm, totp_enroll_start, totp_verify
from config.vault import Vault
from keys.services import secrets_pending_count

pytestmark = pytest.mark.django_db
A, B = (Fernet.generate_key().decode() for _ in range(2))


def test_rotation_covers_the_totp_secret(alice, settings):
    settings.FIELD_ENCRYPTION_KEYS = [A]
    _, secret = totp_enroll_start(user=alice)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(timezone.now())
    totp_enroll_confirm(user=alice, code=totp.generate_otp(step - 1))
    before = TotpDevice.objects.get(user=alice).secret_enc

    settings.FIELD_ENCRYPTION_KEYS = [B, A]
    assert secrets_pending_count() == 1
    out = io.StringIO()
    call_command("rotate_encryption_keys", "--no-progress", stdout=out, stderr=io.StringIO())
    assert "Rotated 1 row(s)" in out.getvalue()
    device = TotpDevice.objects.get(user=alice)
    assert device.secret_enc != before and device.enc_key_id == Vault([B]).primary_id
    assert Vault([B]).decrypt(device.secret_enc) == secret

    settings.FIELD_ENCRYPTION_KEYS = [B]  # old key dropped
    alice.refresh_from_db()
    assert totp_verify(user=alice, code=totp.generate_otp(step)) is True
