from celery import shared_task

from accounts.services import heartbeat_record


@shared_task(name="system.heartbeat", ignore_result=True)
def heartbeat(worker: str = "worker") -> None:
    """Beat sends it to each worker's queue: "worker" (the main queue) and "alerts"."""
    heartbeat_record(worker=worker)
