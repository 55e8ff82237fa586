"""Writes for notifications, by concern: channels (notifications.channels), the outbox and `notify()`
(notifications.outbox), delivery (notifications.delivery). This module gathers their public names
for callers (trading and risk call `notify` / `notify_operator`; pages, the API and admin the rest)
and holds the default beat schedule.
"""

from notifications.channels import (
    ChannelInvalid,
    ChannelUndecryptable,
    channel_create,
    channel_delete,
    channel_disable,
    channel_targets,
    channel_update,
    transport_for,
)
from notifications.delivery import TEST_EVENT, backoff_seconds, channel_test, message_compose, outbox_deliver
from notifications.outbox import notify, notify_operator, outbox_split_by_channel, outbox_sweep

__all__ = [
    "TEST_EVENT", "ChannelInvalid", "ChannelUndecryptable", "backoff_seconds", "channel_create",
    "channel_delete", "channel_disable", "channel_targets", "channel_test", "channel_update",
    "message_compose", "notify", "notify_operator", "outbox_deliver", "outbox_split_by_channel",
    "outbox_sweep", "periodic_tasks_ensure", "transport_for",
]


def periodic_tasks_ensure(**_kwargs) -> None:
    """Default beat schedule for notification retries; created once, then staff own it in admin."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name="Deliver due notifications",
                                       defaults={"task": "notifications.deliver_due", "interval": every,
                                                 "expire_seconds": 15})
