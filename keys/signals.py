"""Worker start-up: a Celery worker whose encryption keys cannot open the stored secrets does not start."""

from celery.signals import worker_init

from keys.services import encryption_verify


@worker_init.connect(dispatch_uid="keys.verify_encryption")
def _verify_encryption(**_kwargs) -> None:
    encryption_verify()
