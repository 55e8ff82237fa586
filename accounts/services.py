"""Writes for accounts: registration, deactivation, tokens, the audit log, the worker heartbeat."""

import logging
import time

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import AuditEvent, User
from accounts.selectors import client_ip
from config.api import DomainError

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "system:worker-heartbeat"


class RegistrationRefused(DomainError):
    code = "invalid"


def audit_record(*, action: str, actor: User | None = None, target: str = "", request=None,
                 details: dict | None = None) -> AuditEvent:
    if actor is not None and not getattr(actor, "pk", None):
        actor = None
    return AuditEvent.objects.create(
        action=action, actor=actor, target=target[:200], ip=client_ip(request), details=details or {}
    )


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
    refresh = RefreshToken.for_user(user)
    return token_pair(refresh)


def token_pair(refresh: RefreshToken) -> dict:
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def user_tokens_revoke(*, user: User) -> int:
    """Blacklist every refresh token the user holds; returns how many were revoked now."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    revoked = 0
    for token in outstanding:
        _, created = BlacklistedToken.objects.get_or_create(token=token)
        revoked += int(created)
    return revoked


def user_sessions_end(*, user: User) -> int:
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
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
        tokens = user_tokens_revoke(user=user)
        sessions = user_sessions_end(user=user)
        audit_record(action="user.deactivate", actor=actor, target=f"user:{user.pk}", request=request,
                     details={"tokens_revoked": tokens, "sessions_ended": sessions})
    return user


def heartbeat_record() -> float:
    now = time.time()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
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
