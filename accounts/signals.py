"""Audit hooks for Django's own auth events (pages and API both send them), and the worker's first heartbeat."""

from celery import current_app
from celery.signals import worker_ready
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.audit import audit_record
from accounts.services import heartbeat_record


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


@worker_ready.connect(dispatch_uid="accounts.first_heartbeat")
def _first_heartbeat(sender=None, **_kwargs) -> None:
    # A worker that just came up is alive: say so without waiting for beat, for each queue it serves
    # ("celery": the main worker; "alerts": alert delivery).
    consumer_app = getattr(sender, "app", None) or current_app
    default_queue = consumer_app.conf.task_default_queue
    queues = set(consumer_app.amqp.queues.consume_from or {}) or {default_queue}
    if default_queue in queues:
        heartbeat_record(worker="worker")
    if "alerts" in queues:
        heartbeat_record(worker="alerts")
