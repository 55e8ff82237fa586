"""The outbox: `notify()` writes one row per matching channel in the caller's transaction and
publishes delivery after it commits, one Celery message per transaction, sent by task name (this
module never imports the task). It never raises and never waits on a network send.
"""

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from notifications.models import Channel, DeliveryAttempt, Outbox
from notifications.selectors import channels_matching

log = logging.getLogger(__name__)

DELIVER_TASK = "notifications.deliver"  # notifications.tasks.deliver
STUCK_AFTER = timedelta(minutes=10)
KEEP_FINISHED = timedelta(days=90)  # the delivery log keeps finished messages this long


def _bot_fields(bot) -> tuple[int | None, str]:
    if bot is None:
        return None, ""
    label = str(getattr(bot, "name", "") or f"bot {getattr(bot, 'pk', '')}")
    symbol = getattr(bot, "symbol", "")
    if symbol:
        label = f"{label} ({symbol})"
    return getattr(bot, "pk", None), label[:120]


def _write(*, channels: list[Channel | None], user, event: str, severity: str, title: str, text: str,
           url_path: str, bot, dedupe_key: str | None) -> list[int]:
    """Insert one row per channel; returns the outbox ids. One INSERT unless deduplicating."""
    if not channels:
        return []
    now = timezone.now()
    bot_id, bot_label = _bot_fields(bot)

    def row(channel):
        return Outbox(channel=channel, user=user, event=event, severity=severity, title=str(title)[:200],
                      text=str(text)[:4000], url_path=str(url_path or "")[:300], bot_id=bot_id, bot_label=bot_label,
                      dedupe_key=(dedupe_key or "")[:200], next_attempt_at=now, created_at=now,
                      max_attempts=settings.NOTIFICATION_MAX_ATTEMPTS)

    if not dedupe_key:
        return [r.pk for r in Outbox.objects.bulk_create([row(c) for c in channels])]
    written = []
    for channel in channels:
        if Outbox.objects.filter(channel=channel, dedupe_key=dedupe_key[:200]).exists():
            continue
        try:
            with transaction.atomic():
                r = row(channel)
                r.save()
        except IntegrityError:
            continue  # the same dedupe key raced in from elsewhere: already queued once
        written.append(r.pk)
    return written


def _publish(groups: dict[float, list[int]]) -> None:
    """One Celery message per transaction (per delay): a storm of 200 alerts costs the caller one publish.
    The worker splits it per channel (see notifications.tasks.deliver)."""
    for countdown, ids in groups.items():
        try:
            # By name: where the task is registered (a worker, the tests) Celery calls its apply_async,
            # which honours task_always_eager; elsewhere it is app.send_task. Either way, to the alerts queue.
            celery_app.signature(DELIVER_TASK, args=(ids,)).apply_async(countdown=countdown, retry=False)
        except Exception as exc:  # noqa: BLE001 - the beat sweep delivers them later
            log.warning("could not enqueue %d notification(s) (%s); the retry sweep will send them", len(ids),
                        type(exc).__name__)


class _Pending:
    """Rows written in the current transaction, published together when it commits."""

    def __init__(self):
        self.groups: dict[float, list[int]] = {}
        self.flushed = False

    def flush(self) -> None:
        self.flushed = True
        if getattr(_local, "pending", None) is self:
            _local.pending = None
        _publish(self.groups)


_local = threading.local()


def enqueue_after_commit(ids: list[int], countdown: float | None = None) -> None:
    if not ids:
        return
    countdown = float(settings.NOTIFICATION_FOLD_SECONDS if countdown is None else countdown)
    groups: dict[float, list[int]] = {}
    if connection.in_atomic_block:
        pending = getattr(_local, "pending", None)
        registered = pending is not None and not pending.flushed and any(
            entry[1] is pending.callback for entry in connection.run_on_commit)
        if not registered:  # first alert of this transaction (or the last one rolled back)
            pending = _local.pending = _Pending()
            pending.callback = pending.flush
            transaction.on_commit(pending.callback, robust=True)
        groups = pending.groups
    groups.setdefault(countdown, []).extend(ids)
    if not connection.in_atomic_block:
        _publish(groups)


def notify(*, user, event: str, severity: str, title: str, text: str, url_path: str = "", bot=None,
           dedupe_key: str | None = None) -> None:
    """Queue an alert for every enabled channel of `user` that wants this event at this severity.

    Safe inside the caller's transaction (rows and delivery go with its commit); never raises and
    never waits on a network send.
    """
    try:
        with transaction.atomic():  # a savepoint: a failure here cannot break the caller's transaction
            channels = list(channels_matching(user=user, event=event, severity=severity))
            ids = _write(channels=channels, user=user, event=event, severity=severity, title=title, text=text,
                         url_path=url_path, bot=bot, dedupe_key=dedupe_key)
        enqueue_after_commit(ids)
    except Exception:  # noqa: BLE001 - alerts must never break trading
        log.exception("notify(%s, %s) failed; the alert was not queued", event, severity)


def notify_operator(*, event: str, severity: str, title: str, text: str, url_path: str = "",
                    dedupe_key: str | None = None) -> None:
    """Queue an operator alert (e.g. global kill switch) for the platform channel from the environment."""
    try:
        if not settings.DINGTALK_WEBHOOK_URL:
            log.warning("operator alert not sent (no DINGTALK_WEBHOOK_URL configured): %s", title)
            return
        with transaction.atomic():
            ids = _write(channels=[None], user=None, event=event, severity=severity, title=title, text=text,
                         url_path=url_path, bot=None, dedupe_key=dedupe_key)
        enqueue_after_commit(ids)
    except Exception:  # noqa: BLE001 - alerts must never break trading
        log.exception("notify_operator(%s) failed; the alert was not queued", event)


def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Beat: release rows stuck in 'sending' (a worker died), forget finished rows older than 90 days,
    and enqueue every due row. Returns how many were enqueued."""
    now = now or timezone.now()
    with transaction.atomic():
        stuck = list(Outbox.objects.filter(state=Outbox.State.SENDING, claimed_at__lt=now - STUCK_AFTER)
                     .values_list("pk", flat=True)[:limit])
        if stuck:
            Outbox.objects.filter(pk__in=stuck).update(state=Outbox.State.PENDING, next_attempt_at=now)
            DeliveryAttempt.objects.filter(outbox_id__in=stuck, outcome=DeliveryAttempt.Outcome.SENDING).update(
                outcome=DeliveryAttempt.Outcome.RETRY, reason="interrupted (worker stopped); sending again")
        old = list(Outbox.objects.filter(created_at__lt=now - KEEP_FINISHED,
                                         state__in=[Outbox.State.SENT, Outbox.State.FOLDED, Outbox.State.FAILED])
                   .values_list("pk", flat=True)[:limit])
        if old:
            Outbox.objects.filter(pk__in=old).delete()
        due = list(Outbox.objects.filter(state=Outbox.State.PENDING, next_attempt_at__lte=now)
                   .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
        enqueue_after_commit(due, countdown=0)
    return len(due)


def outbox_split_by_channel(*, outbox_ids: list[int]) -> list[list[int]]:
    """Group outbox ids by channel (platform rows together), keeping their order."""
    channel_of = dict(Outbox.objects.filter(pk__in=outbox_ids).values_list("pk", "channel_id"))
    groups: dict[int | None, list[int]] = {}
    for pk in outbox_ids:
        if pk in channel_of:
            groups.setdefault(channel_of[pk], []).append(pk)
    return list(groups.values())
