"""Forgotten passwords: Django's reset flow (signed one-time link by email), for the pages and the API.

No user enumeration: a reset request answers the same, and as fast, whether or not the address belongs to
anyone: the request only throttles and enqueues; the lookup and the SMTP send happen in a task on the alerts
worker (accounts/emails.py), so neither the database nor a slow mail server can be timed from outside.
Throttled: per client IP (refused with 429, which says nothing about any account) and per address
(further requests are quietly not sent, so nobody can flood someone's mailbox).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework import status

from accounts.audit import audit_record
from accounts.emails import PASSWORD_RESET_TASK, email_enqueue
from accounts.login import LoginThrottled
from accounts.models import User
from accounts.passwords import user_password_reset
from accounts.selectors import client_ip
from config.api import DomainError

EMAIL_TEMPLATE = "emails/password_reset.txt"
SUBJECT_TEMPLATE = "emails/password_reset_subject.txt"


class ResetLinkInvalid(DomainError):
    code = "reset_link_invalid"
    status = status.HTTP_400_BAD_REQUEST


def _hit(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=window)
        return 1


def password_reset_request(*, email: str, request) -> None:
    """Send a reset link to `email` if an active account has it; the same silence either way."""
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    ip = client_ip(request) or "unknown"
    if _hit(f"accounts:reset:ip:{ip}", window) > settings.PASSWORD_RESET_MAX_PER_IP:
        raise LoginThrottled("Too many reset requests from your address: try again later.", retry_after=window)
    email = email.strip()
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    if _hit(f"accounts:reset:email:{digest}", window) > settings.PASSWORD_RESET_MAX_PER_EMAIL:
        return  # quietly: the answer must not differ, and the mailbox must not be flooded
    email_enqueue(PASSWORD_RESET_TASK, email=email, domain=request.get_host(), use_https=request.is_secure(),
                  ip=client_ip(request))


def password_reset_send(*, email: str, domain: str, use_https: bool, ip: str | None = None) -> int:
    """The task's work: mail a reset link to every active account with `email`; returns how many."""
    form = PasswordResetForm(data={"email": email})
    if not form.is_valid():
        return 0
    users = list(form.get_users(email))
    form.save(domain_override=domain, use_https=use_https, email_template_name=EMAIL_TEMPLATE,
              subject_template_name=SUBJECT_TEMPLATE, from_email=settings.DEFAULT_FROM_EMAIL)
    for user in users:
        audit_record(action="password.reset_requested", actor=user, target=f"user:{user.pk}", ip=ip)
    return len(users)


def password_reset_confirm(*, uid: str, token: str, new_password: str, request=None) -> User:
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uid))), is_active=True).first()
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ResetLinkInvalid("This reset link is not valid or has already been used: ask for a new one.",
                               fields={"token": ["Not valid or already used."]})
    return user_password_reset(user=user, new_password=new_password, request=request)
