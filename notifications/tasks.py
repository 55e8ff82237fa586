from celery import shared_task

from notifications.services import outbox_deliver, outbox_sweep


@shared_task(name="notifications.deliver", ignore_result=True)
def deliver(outbox_id: int) -> None:
    """Send one outbox row (or a storm summary). Retries are rescheduled in the outbox, not here."""
    outbox_deliver(outbox_id=outbox_id)


@shared_task(name="notifications.deliver_due", ignore_result=True, expires=15)
def deliver_due() -> None:
    """Beat: enqueue due retries and release rows a dead worker left in 'sending'."""
    outbox_sweep()
