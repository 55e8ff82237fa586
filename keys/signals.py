"""Worker start-up: a Celery worker whose encryption keys cannot open the stored secrets does not start."""

import logging

from celery.signals import worker_init
from django.core.exceptions import ImproperlyConfigured

from keys.services import encryption_verify

log = logging.getLogger(__name__)


@worker_init.connect(dispatch_uid="keys.verify_encryption")
def _verify_encryption(**_kwargs) -> str:
    try:
        return encryption_verify()
    except ImproperlyConfigured as exc:
        # Celery only logs an Exception raised by a worker_init receiver and starts anyway; SystemExit stops it.
        log.critical("%s", exc)
        raise SystemExit(f"worker not started: {exc}") from None
