"""The Celery app. Tasks live in each app's `tasks.py`; schedules live in the database
(django-celery-beat) so staff can see and change them in admin. Worker start-up hooks live in
the apps they belong to (accounts.signals: the first heartbeat; keys.signals: the encryption
check), connected when Django is set up, which Celery does before it sends `worker_init`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
