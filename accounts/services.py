"""Writes for accounts: registration, deactivation, tokens, TOTP, re-authentication, the worker heartbeat.

The audit log is accounts.audit (audit_record)."""

import hmac
import logging
import time

import pyotp
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.audit import audit_record
from accounts.models import TotpDevice, User
from accounts.tokens import refresh_for, user_tokens_end
from config.api import DomainError
from config.vault import vault

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "system:worker-heartbeat"


class RegistrationRefused(DomainError):
    code = "invalid"


def user_register(*, username: str, email: str, password: str, request=None) -> User:
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise RegistrationRefused("That username is taken.", fields={"username": ["That username is taken."]})
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise RegistrationRefused(exc.messages[0], fields={"password": exc.messages}) from None
    with transaction.atomic():
        candidate.set_password(password)
        candidate.full_clean()
        candidate.save()
        audit_record(action="user.signup", actor=candidate, target=f"user:{candidate.pk}", request=request)
    return candidate


def tokens_issue(*, user: User) -> dict:
    return token_pair(refresh_for(user))


def token_pair(refresh: RefreshToken) -> dict:
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def user_sessions_end(*, user: User, keep: str | None = None) -> int:
    """End the user's page sessions (all, or all but the session key `keep`)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep or "").iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def user_deactivate(*, user: User, actor: User | None, request=None) -> User:
    """Deactivate a user: their sessions and refresh tokens stop working at once."""
    with transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
        tokens = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()
        user_tokens_end(user=user)  # access tokens too, not only refresh tokens
        sessions = user_sessions_end(user=user)
        audit_record(action="user.deactivate", actor=actor, target=f"user:{user.pk}", request=request,
                     details={"tokens_revoked": tokens, "sessions_ended": sessions})
    return user


WORKERS = ("worker", "alerts")  # the main worker (queue "celery") and the alert delivery worker (queue "alerts")


def heartbeat_key(worker: str = "worker") -> str:
    return HEARTBEAT_KEY if worker == "worker" else f"{HEARTBEAT_KEY}:{worker}"


def heartbeat_record(*, worker: str = "worker") -> float:
    if worker not in WORKERS:
        raise ValueError(f"unknown worker {worker!r}")
    now = time.time()
    cache.set(heartbeat_key(worker), now, timeout=None)
    return now


def periodic_tasks_ensure(**_kwargs) -> None:
    """Default beat schedules; created once, then staff own them in admin."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(
        every=settings.HEARTBEAT_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name="System heartbeat", defaults={"task": "system.heartbeat", "interval": every}
    )
    PeriodicTask.objects.get_or_create(
        name="Alerts worker heartbeat",
        defaults={"task": "system.heartbeat", "interval": every, "kwargs": '{"worker": "alerts"}', "queue": "alerts"},
    )


# --- TOTP second factor -------------------------------------------------------------------------------------
# The secret lives encrypted in TotpDevice (same vault as exchange keys). Nothing here logs, audits or returns
# a code, and the secret is returned exactly once: by totp_enroll_start, for the user to type into their app.

TOTP_VALID_WINDOW = 1  # steps either side of now (30 s each)
TOTP_MAX_FAILURES = 10  # wrong codes per user ...
TOTP_FAILURE_WINDOW_SECONDS = 600  # ... within this window, then every code is refused until it passes


class TotpError(DomainError):
    code = "totp_invalid"


class TotpAlreadyEnabled(DomainError):
    code = "totp_already_enabled"
    status = status.HTTP_409_CONFLICT


class TotpNotStarted(DomainError):
    code = "totp_not_started"
    status = status.HTTP_409_CONFLICT


class TotpNotEnabled(DomainError):
    code = "totp_not_enabled"
    status = status.HTTP_409_CONFLICT


class TotpTooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = status.HTTP_429_TOO_MANY_REQUESTS


def _failures_locked(key: str, limit: int) -> bool:
    return (cache.get(key) or 0) >= limit


def _failure_count(key: str, window_seconds: int) -> None:
    """One more failure in a window that starts with the first one (a fixed window, not a sliding one)."""
    if cache.add(key, 1, timeout=window_seconds) is False:
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window_seconds)


def _totp_failures_key(user: User) -> str:
    return f"accounts:totp-failures:{user.pk}"


def _totp_locked(user: User) -> bool:
    return _failures_locked(_totp_failures_key(user), TOTP_MAX_FAILURES)


def _totp_failure(user: User) -> None:
    _failure_count(_totp_failures_key(user), TOTP_FAILURE_WINDOW_SECONDS)


def _totp_issuer() -> str:
    return getattr(settings, "TOTP_ISSUER", "") or settings.SPECTACULAR_SETTINGS.get("TITLE", "Trading platform")


def _totp_match(device: TotpDevice, code: str) -> int | None:
    """The time step `code` belongs to (within the window, newer than the last used one), else None."""
    code = "".join(str(code or "").split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(vault().decrypt(device.secret_enc))
    now_step = totp.timecode(timezone.now())
    for step in range(now_step - TOTP_VALID_WINDOW, now_step + TOTP_VALID_WINDOW + 1):
        if device.last_used_step is not None and step <= device.last_used_step:
            continue  # a code whose step was already accepted can't be used again
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_enroll_start(*, user: User, request=None) -> tuple[str, str]:
    """Begin (or restart) enrolment: a fresh secret. Returns (otpauth URI, base32 secret) — shown once."""
    if user.totp_enabled:
        raise TotpAlreadyEnabled("Two-factor codes are already on. Turn them off first to enrol a new device.")
    secret = pyotp.random_base32()
    v = vault()
    with transaction.atomic():
        TotpDevice.objects.update_or_create(
            user=user, defaults={"secret_enc": v.encrypt(secret), "enc_key_id": v.primary_id,
                                 "confirmed_at": None, "last_used_step": None})
        audit_record(action="totp.enroll_start", actor=user, target=f"user:{user.pk}", request=request)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=_totp_issuer())
    return uri, secret


def totp_enroll_confirm(*, user: User, code: str, request=None) -> User:
    """Turn two-factor codes on once the user proves their app produces the right code."""
    if user.totp_enabled:
        raise TotpAlreadyEnabled("Two-factor codes are already on.")
    if _totp_locked(user):
        raise TotpTooManyAttempts("Too many wrong codes: try again in a few minutes.")
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
        if device is None:
            raise TotpNotStarted("Start enrolment first to get a secret for your authenticator app.")
        step = _totp_match(device, code)
        if step is not None:
            device.confirmed_at = timezone.now()
            device.last_used_step = step
            device.save(update_fields=["confirmed_at", "last_used_step"])
            User.objects.filter(pk=user.pk).update(totp_enabled=True)
            user.totp_enabled = True
            audit_record(action="totp.enable", actor=user, target=f"user:{user.pk}", request=request)
            return user
    _totp_failure(user)
    audit_record(action="totp.verify_failed", actor=user, target=f"user:{user.pk}", request=request,
                 details={"during": "enrolment"})
    raise TotpError("That code is not right. Check your device's clock and try the current code.",
                    fields={"code": ["That code is not right."]})


def totp_disable(*, user: User, password: str, request=None) -> User:
    """Turn two-factor codes off; needs the account password. The secret is deleted."""
    try:
        user_reauthenticate(user=user, password=password or "", request=request)
    except (ReauthFailed, ReauthTooManyAttempts) as exc:
        audit_record(action="totp.disable_refused", actor=user, target=f"user:{user.pk}", request=request,
                     details={"why": "wrong password" if isinstance(exc, ReauthFailed) else "too many attempts"})
        raise
    with transaction.atomic():
        deleted, _ = TotpDevice.objects.filter(user=user).delete()
        was_enabled = User.objects.filter(pk=user.pk, totp_enabled=True).update(totp_enabled=False)
        user.totp_enabled = False
        if not (deleted or was_enabled):
            raise TotpNotEnabled("Two-factor codes are not set up for your account.")
        audit_record(action="totp.disable", actor=user, target=f"user:{user.pk}", request=request)
    return user


def totp_verify(*, user: User, code: str, request=None) -> bool:
    """True once per valid code (its time step is then spent); wrong codes are audited and rate-limited."""
    if not user.totp_enabled or _totp_locked(user):
        return False
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
        step = _totp_match(device, code) if device is not None else None
        if step is not None:
            device.last_used_step = step
            device.save(update_fields=["last_used_step"])
            return True
    _totp_failure(user)
    audit_record(action="totp.verify_failed", actor=user, target=f"user:{user.pk}", request=request)
    return False


# --- re-authentication ---------------------------------------------------------------------------------------
# A signed-in person proves again that they are who the session says, before a sensitive action (releasing a
# kill switch, turning off two-factor codes): their password, or a TOTP code when they have TOTP on.

REAUTH_MAX_FAILURES = 5  # wrong passwords or codes per user ...
REAUTH_WINDOW_SECONDS = 600  # ... within this window, then every attempt is refused until it passes


class ReauthFailed(DomainError):
    code = "reauthentication_failed"
    status = status.HTTP_403_FORBIDDEN


class ReauthTooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = status.HTTP_429_TOO_MANY_REQUESTS


def _reauth_failures_key(user: User) -> str:
    return f"accounts:reauth-failures:{user.pk}"


def _reauth_check(*, user: User, password: str | None, totp: str | None, request) -> str:
    if password:
        if user.check_password(password):
            return "password"
        raise ReauthFailed("That password is not right.", fields={"password": ["That password is not right."]})
    if totp:
        if not user.totp_enabled:
            raise ReauthFailed("Two-factor codes are not set up for your account; confirm with your password.",
                               fields={"totp": ["Not set up for this account."]})
        if totp_verify(user=user, code=str(totp).strip(), request=request):
            return "totp"
        raise ReauthFailed("That code is not right.", fields={"totp": ["That code is not right."]})
    raise ReauthFailed("Confirm with your password or a two-factor code.",
                       fields={"password": ["Required (or totp)."]})


def user_reauthenticate(*, user: User, password: str | None = None, totp: str | None = None,
                        request=None) -> str:
    """Check the password (tried first when given) or a TOTP code; returns "password" or "totp".

    Raises ReauthFailed (403 reauthentication_failed, `fields` names password or totp) and, after
    REAUTH_MAX_FAILURES failures within REAUTH_WINDOW_SECONDS, ReauthTooManyAttempts (429
    too_many_attempts) for every attempt, right or wrong, until the window passes. A TOTP code is
    spent once accepted (totp_verify), and wrong codes also count against TOTP's own limit.
    Callers audit the refusal under their own action name.
    """
    key = _reauth_failures_key(user)
    if _failures_locked(key, REAUTH_MAX_FAILURES):
        raise ReauthTooManyAttempts("Too many wrong passwords or codes: try again in a few minutes.")
    try:
        return _reauth_check(user=user, password=password, totp=totp, request=request)
    except ReauthFailed:
        _failure_count(key, REAUTH_WINDOW_SECONDS)
        raise
