import smtplib

from celery import shared_task

from accounts.emails import login_failures_email_send
from accounts.password_reset import password_reset_send
from accounts.services import heartbeat_record


@shared_task(name="system.heartbeat", ignore_result=True)
def heartbeat(worker: str = "worker") -> None:
    """Beat sends it to each worker's queue: "worker" (the main queue) and "alerts"."""
    heartbeat_record(worker=worker)


# Mail to users (accounts/emails.py), on the alerts worker: an unreachable or slow SMTP server is retried
# with a back-off and never holds up a request, a tick or a price poll.
_MAIL = {"ignore_result": True, "autoretry_for": (OSError, smtplib.SMTPException), "retry_backoff": 5,
         "max_retries": 4}


@shared_task(name="accounts.email.password_reset", **_MAIL)
def send_password_reset(email: str, domain: str, use_https: bool, ip: str | None = None) -> None:
    password_reset_send(email=email, domain=domain, use_https=use_https, ip=ip)


@shared_task(name="accounts.email.login_failures", **_MAIL)
def send_login_failures_email(user_id: int, failures: int) -> None:
    login_failures_email_send(user_id=user_id, failures=failures)
