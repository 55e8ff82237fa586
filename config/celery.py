"""The Celery app. Tasks live in each app's `tasks.py`; schedules live in the database
(django-celery-beat) so staff can see and change them in admin."""

import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _first_heartbeat(**_kwargs) -> None:
    # A worker that just came up is alive: say so without waiting for beat.
    from accounts.services import heartbeat_record

    heartbeat_record()


@worker_init.connect
def _verify_encryption(**_kwargs) -> None:
    from keys.services import encryption_verify

    encryption_verify()
