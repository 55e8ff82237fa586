"""Audit hooks for Django's own auth events (pages and API both send them)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.services import audit_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(action="login.success", actor=user, target=f"user:{user.pk}", request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # credentials are cleansed by Django (password is '********'); keep only the username.
    username = str(credentials.get("username", ""))[:150]
    audit_record(action="login.failure", target=f"username:{username}", request=request)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="logout", actor=user, target=f"user:{user.pk}", request=request)
