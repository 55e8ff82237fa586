"""JWT tokens that can be ended before they expire.

Two mechanisms, both checked on every authenticated API request and WebSocket upgrade:

- a per-user token version (`User.token_version`, claim `tv` in every access and refresh
  token): a password change, a password reset or a deactivation bumps it, so every token
  issued before ends at once (the caller of a change gets a fresh pair);
- a denylist of access-token ids in Redis (`jti`, kept until the token would have expired):
  logout ends the one access token that logged out, not the user's other devices.

The user row is loaded on every request anyway (simplejwt does it), so the version check is
free; the denylist costs one Redis GET (bench/token_check.py measures both).
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from rest_framework.exceptions import PermissionDenied
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import User
from accounts.selectors import user_by_pk

VERSION_CLAIM = "tv"
DENYLIST_PREFIX = "accounts:jwt-denied:"
log = logging.getLogger(__name__)


def refresh_for(user: User) -> RefreshToken:
    """A refresh token (and, through it, access tokens) stamped with the user's current token version."""
    refresh = RefreshToken.for_user(user)
    refresh[VERSION_CLAIM] = user.token_version
    return refresh


def _denylist_key(jti: str) -> str:
    return f"{DENYLIST_PREFIX}{jti}"


def access_token_deny(*, token: Token) -> None:
    """End one access token now: its id is refused until the moment it would have expired anyway."""
    jti = token.get("jti")
    if not jti:
        return
    ttl = int(token.get("exp", 0) - time.time()) + 1
    if ttl > 0:
        cache.set(_denylist_key(jti), 1, timeout=ttl)


def access_token_denied(token: Token) -> bool:
    jti = token.get("jti")
    if not jti:
        return False
    try:
        return cache.get(_denylist_key(jti)) is not None
    except Exception:  # noqa: BLE001 - redis.ConnectionError, TimeoutError ...
        # Fail open, loudly: during a Redis outage a logged-out access token works until it expires (at
        # most ACCESS_TOKEN_LIFETIME), while the emergency stop and the kill switch stay reachable. The
        # token version (a password change, reset or deactivation) is in PostgreSQL and still holds.
        log.warning("JWT denylist unreachable; logout of access tokens not enforced during the outage")
        return False


def token_version_matches(token: Token, user: User) -> bool:
    return int(token.get(VERSION_CLAIM, 0) or 0) == user.token_version


def user_tokens_end(*, user: User) -> int:
    """End every access and refresh token of `user` (version bump + refresh blacklist).

    Returns the new token version; `user` is updated in place so a pair issued from it afterwards is valid.
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
        user.token_version = User.objects.filter(pk=user.pk).values_list("token_version", flat=True).get()
        user_tokens_revoke(user=user)
    return user.token_version


def user_tokens_revoke(*, user: User) -> int:
    """Blacklist every refresh token the user holds; returns how many were revoked now."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    revoked = 0
    for token in outstanding:
        _, created = BlacklistedToken.objects.get_or_create(token=token)
        revoked += int(created)
    return revoked



class PlatformJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication plus the token version and the logout denylist."""

    def get_user(self, validated_token: Token) -> User:
        """simplejwt's get_user (same answers: user_not_found, user_inactive, password_changed), with the
        user read by accounts.selectors.user_by_pk, then the logout denylist and the token version."""
        if access_token_denied(validated_token):
            raise AuthenticationFailed("This token was ended by a logout.", code="token_not_valid")
        if jwt_settings.USER_ID_CLAIM not in validated_token:
            raise InvalidToken("Token contained no recognizable user identification")
        if User._meta.pk.name != jwt_settings.USER_ID_FIELD:  # not the primary key: simplejwt's own lookup
            user = super().get_user(validated_token)
        else:
            user = user_by_pk(validated_token[jwt_settings.USER_ID_CLAIM])
            if user is None:
                raise AuthenticationFailed("User not found", code="user_not_found")
            if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
                raise AuthenticationFailed("User is inactive", code="user_inactive")
            if jwt_settings.CHECK_REVOKE_TOKEN and (validated_token.get(jwt_settings.REVOKE_TOKEN_CLAIM)
                                                    != get_md5_hash_password(user.password)):
                raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
        if not token_version_matches(validated_token, user):
            raise AuthenticationFailed("This token was ended by a password change or reset.",
                                       code="token_not_valid")
        return user

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is not None and found[0].must_change_password and request.path not in PASSWORD_CHANGE_PATHS:
            raise PasswordChangeRequired()
        return found


# what an account that must set a new password (the first-run staff account) may still call
PASSWORD_CHANGE_PATHS = frozenset({"/api/auth/password/", "/api/auth/logout/", "/api/auth/me/"})


class PasswordChangeRequired(PermissionDenied):
    default_detail = "Set a new password first: POST /api/auth/password/ (the first-run password is one-time)."
    default_code = "password_change_required"


class PlatformRefreshSerializer(TokenRefreshSerializer):
    """Refresh rotation that also refuses a refresh token older than the user's token version."""

    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])
        user = User.objects.filter(pk=refresh.payload.get("user_id")).first()
        if user is None or not token_version_matches(refresh, user):
            raise TokenError("Token was ended by a password change or reset.")
        return super().validate(attrs)


def access_token_from(raw: str) -> AccessToken | None:
    """A verified access token, or None (bad signature, expired, wrong type)."""
    try:
        return AccessToken(raw)
    except (TokenError, InvalidToken):
        return None
