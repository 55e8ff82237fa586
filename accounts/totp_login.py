"""The second step of sign-in when two-factor codes are on, and single-use recovery codes.

A correct password for a user with TOTP on gets no tokens and no session, only a challenge: a signed,
short-lived, single-use reference to that user. The challenge and a current code (or an unused
recovery code) complete the sign-in. Codes are checked by accounts.services.totp_verify (time steps
spent once, wrong codes rate-limited per user); a challenge allows TOTP_CHALLENGE_MAX_TRIES codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from accounts.audit import audit_record
from accounts.models import TotpRecoveryCode, User
from accounts.services import totp_verify
from config.api import DomainError

CHALLENGE_SALT = "accounts.login-totp"
RECOVERY_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class ChallengeInvalid(DomainError):
    code = "challenge_invalid"
    status = status.HTTP_401_UNAUTHORIZED


class LoginCodeWrong(DomainError):
    code = "totp_invalid"
    status = status.HTTP_401_UNAUTHORIZED


def _challenge_key(nonce: str) -> str:
    return f"accounts:totp-challenge:{nonce}"


def login_challenge_issue(*, user: User, request=None) -> str:
    nonce = secrets.token_urlsafe(16)
    cache.set(_challenge_key(nonce), {"user": user.pk, "tries": 0}, timeout=settings.TOTP_CHALLENGE_SECONDS)
    audit_record(action="login.totp_required", actor=user, target=f"user:{user.pk}", request=request)
    return signing.dumps({"u": user.pk, "n": nonce}, salt=CHALLENGE_SALT, compress=True)


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in str(code or "").lower() if ch.isalnum())


def _hash(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), _normalise_recovery(code).encode(), hashlib.sha256).hexdigest()


def recovery_codes_issue(*, user: User, request=None) -> list[str]:
    """Fresh recovery codes (old ones stop working). Returned once: only hashes are stored."""
    codes = ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
             for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        TotpRecoveryCode.objects.filter(user=user).delete()
        TotpRecoveryCode.objects.bulk_create([TotpRecoveryCode(user=user, code_hash=_hash(c)) for c in codes])
        audit_record(action="totp.recovery_codes_issued", actor=user, target=f"user:{user.pk}", request=request,
                     details={"count": len(codes)})
    return codes


def recovery_code_use(*, user: User, code: str, request=None) -> bool:
    normal = _normalise_recovery(code)
    if len(normal) != 10:
        return False
    used = TotpRecoveryCode.objects.filter(user=user, code_hash=_hash(normal), used_at__isnull=True).update(
        used_at=timezone.now())
    if used:
        audit_record(action="totp.recovery_code_used", actor=user, target=f"user:{user.pk}", request=request,
                     details={"left": TotpRecoveryCode.objects.filter(user=user, used_at__isnull=True).count()})
    return bool(used)


def login_challenge_complete(*, challenge: str, code: str, request=None) -> User:
    """The user once `code` (a TOTP code or a recovery code) answers a live challenge; the challenge is spent."""
    try:
        data = signing.loads(challenge, salt=CHALLENGE_SALT, max_age=settings.TOTP_CHALLENGE_SECONDS)
        key = _challenge_key(str(data["n"]))
        user_pk = int(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ChallengeInvalid("This sign-in has expired or is not valid: sign in with your password again.") from None
    state = cache.get(key)
    user = User.objects.filter(pk=user_pk, is_active=True).first()
    if not state or state.get("user") != user_pk or user is None or not user.totp_enabled:
        raise ChallengeInvalid("This sign-in has expired or is not valid: sign in with your password again.")
    digits = "".join(str(code or "").split())
    ok = totp_verify(user=user, code=digits, request=request) if digits.isdigit() else recovery_code_use(
        user=user, code=code, request=request)
    if ok:
        if not cache.delete(key):  # another request spent it first
            raise ChallengeInvalid("This sign-in was already completed: sign in with your password again.")
        return user
    state["tries"] = state.get("tries", 0) + 1
    if state["tries"] >= settings.TOTP_CHALLENGE_MAX_TRIES:
        cache.delete(key)
    else:
        cache.set(key, state, timeout=settings.TOTP_CHALLENGE_SECONDS)
    raise LoginCodeWrong("That code is not right (or was already used).", fields={"code": ["That code is not right."]})
