"""The Celery app. Tasks live in each app's `tasks.py`; schedules live in the database
(django-celery-beat) so staff can see and change them in admin."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _first_heartbeat(sender=None, **_kwargs) -> None:
    # A worker that just came up is alive: say so without waiting for beat, for each queue it serves
    # ("celery": the main worker; "alerts": alert delivery).
    from accounts.services import heartbeat_record

    consumer_app = getattr(sender, "app", None) or app
    queues = set(consumer_app.amqp.queues.consume_from or {}) or {app.conf.task_default_queue}
    if app.conf.task_default_queue in queues:
        heartbeat_record(worker="worker")
    if "alerts" in queues:
        heartbeat_record(worker="alerts")


@worker_init.connect
def _verify_encryption(**_kwargs) -> None:
    from keys.services import encryption_verify

    encryption_verify()


@beat_init.connect
def _announce_beat(**_kwargs) -> None:
    # exactly one beat per deployment: each says it is alive, and the second one says so loudly
    from ops.beat import beat_announce

    beat_announce()
