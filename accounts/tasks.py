from celery import shared_task

from accounts.services import heartbeat_record


@shared_task(name="system.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record()
