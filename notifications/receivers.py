"""Hooks from the layers below: accounts sends signals, notifications turns them into alerts on the user's
channels (accounts cannot import notifications: it sits below it)."""

import time

from django.conf import settings
from django.dispatch import receiver

from accounts.login import login_failures_alert
from notifications.outbox import notify


@receiver(login_failures_alert, dispatch_uid="notifications.login_failures")
def _login_failures(sender, user, failures: int, **_kwargs) -> None:
    minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    notify(user=user, event="security", severity="warning", title="Failed sign-in attempts on your account",
           text=f"{failures} failed attempts to sign in as {user.username} in the last {minutes} minutes. Nothing was "
                "let in. If that was not you, consider a longer password and two-factor codes.",
           url_path="/account/totp/",
           dedupe_key=f"login-failures:{user.pk}:{int(time.time() // settings.LOGIN_FAILURE_WINDOW_SECONDS)}")
