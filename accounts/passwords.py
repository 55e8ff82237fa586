"""Password writes: change (page and API), reset by email, the first-run forced change.

Every successful change ends the user's other sessions, every refresh token and every access
token (accounts.tokens.user_tokens_end); the caller keeps its session or gets a fresh token pair.
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework import status

from accounts.audit import audit_record
from accounts.models import User
from accounts.services import tokens_issue, user_sessions_end
from accounts.tokens import user_tokens_end
from config.api import DomainError


class PasswordWrong(DomainError):
    code = "reauthentication_failed"
    status = status.HTTP_403_FORBIDDEN


class PasswordRefused(DomainError):
    code = "invalid"


def password_check_new(*, user: User, new_password: str) -> None:
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise PasswordRefused(exc.messages[0], fields={"new_password": exc.messages}) from None


def user_password_changed(*, user: User, request=None, via: str, keep_session_key: str | None = None) -> None:
    """After the password hash changed (by us or by a Django form): end every token and other session."""
    with transaction.atomic():
        if user.must_change_password:
            User.objects.filter(pk=user.pk).update(must_change_password=False)
            user.must_change_password = False
        user_tokens_end(user=user)
        ended = user_sessions_end(user=user, keep=keep_session_key)
        audit_record(action="password.change" if via != "reset" else "password.reset", actor=user,
                     target=f"user:{user.pk}", request=request, details={"via": via, "sessions_ended": ended})


def user_password_change(*, user: User, old_password: str, new_password: str, request=None) -> dict:
    """API: change the password after proving the old one; answers with a fresh token pair for the caller."""
    if not old_password or not user.check_password(old_password):
        audit_record(action="password.change_refused", actor=user, target=f"user:{user.pk}", request=request,
                     details={"why": "wrong password"})
        raise PasswordWrong("That password is not right.", fields={"old_password": ["That password is not right."]})
    password_check_new(user=user, new_password=new_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_password_changed(user=user, request=request, via="api")
    return tokens_issue(user=user)


def user_password_reset(*, user: User, new_password: str, request=None) -> User:
    """A reset link was followed (page or API): set the password; every token and session of the user ends."""
    password_check_new(user=user, new_password=new_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_password_changed(user=user, request=request, via="reset")
    return user
