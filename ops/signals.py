"""Celery hooks of operations, connected when Django is set up (Celery does that before beat starts)."""

from celery.signals import beat_init

from ops.beat import beat_announce


@beat_init.connect
def _announce_beat(**_kwargs) -> None:
    # exactly one beat per deployment: each says it is alive, and the second one says so loudly
    beat_announce()
