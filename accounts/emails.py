"""Mail to users is sent off the request, by a Celery task on the alerts worker (queue "alerts", where slow
deliveries belong): how long an answer takes must not depend on whether an address has an account or on how
slow the SMTP server is. The request enqueues by task name (this module never imports the tasks); the task
calls the send function here.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import User
from config.celery import app as celery_app

log = logging.getLogger(__name__)

PASSWORD_RESET_TASK = "accounts.email.password_reset"  # accounts.tasks.send_password_reset  # pragma: allowlist secret
LOGIN_FAILURES_TASK = "accounts.email.login_failures"  # accounts.tasks.send_login_failures_email


def email_enqueue(task: str, **kwargs) -> None:
    """Queue one mail task. Never raises: the answer to the request is the same whatever happens here."""
    try:
        # by name: where the task is registered (a worker, the tests) Celery calls its apply_async, which
        # honours task_always_eager; elsewhere app.send_task. Routed to the alerts queue (CELERY_TASK_ROUTES).
        celery_app.signature(task, kwargs=kwargs).apply_async(retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker is away: the mail is lost, the answer is unchanged
        log.warning("could not enqueue %s (%s): that mail is not sent", task, type(exc).__name__)


def login_failures_email_send(*, user_id: int, failures: int) -> bool:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    send_mail(
        "Failed sign-in attempts on your account",
        f"Hello {user.username},\n\nThere were {failures} failed attempts to sign in to your account in the "
        f"last {settings.LOGIN_FAILURE_WINDOW_SECONDS // 60} minutes. If that was not you, nothing was let "
        "in, but consider a longer password and turning on two-factor codes.\n",
        None, [user.email], fail_silently=False)
    return True
