import logging

from celery import shared_task

from notifications.delivery import outbox_deliver
from notifications.outbox import outbox_split_by_channel, outbox_sweep

log = logging.getLogger(__name__)


@shared_task(name="notifications.deliver", ignore_result=True)
def deliver(outbox_ids: list[int]) -> None:
    """Send outbox rows: one task per channel, so a slow channel never holds up another. Within a channel
    the first due row folds a storm and the rest find nothing to do. Retries are rescheduled in the
    outbox, not here."""
    groups = outbox_split_by_channel(outbox_ids=outbox_ids)
    if len(groups) > 1:
        for ids in groups:
            deliver.apply_async((ids,))
        return
    for pk in groups[0] if groups else []:
        try:
            outbox_deliver(outbox_id=pk)
        except Exception:  # one bad row must not keep the others from going out
            log.exception("delivering notification %s failed", pk)


@shared_task(name="notifications.deliver_due", ignore_result=True, expires=15)
def deliver_due() -> None:
    """Beat: enqueue due retries and release rows a dead worker left in 'sending'."""
    outbox_sweep()
