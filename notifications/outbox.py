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

FILLS = "fills"
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
           url_path: str, bot, dedupe_key: str | None, items: int = 1) -> list[tuple[int, float | None]]:
    """Insert one row per channel; returns (outbox id, countdown or None for the default) of the rows to
    enqueue. One INSERT unless deduplicating; fills for a channel with a digest go into its bot's digest."""
    if not channels:
        return []
    now = timezone.now()
    bot_id, bot_label = _bot_fields(bot)

    def row(channel):
        return Outbox(channel=channel, user=user, event=event, severity=severity, title=str(title)[:200],
                      text=str(text)[:4000], url_path=str(url_path or "")[:300], bot_id=bot_id, bot_label=bot_label,
                      dedupe_key=(dedupe_key or "")[:200], next_attempt_at=now, created_at=now, items=items,
                      max_attempts=settings.NOTIFICATION_MAX_ATTEMPTS)

    if event == FILLS and bot_id is not None and not dedupe_key:
        digested = [c for c in channels if c is not None and c.fill_digest_minutes]
        channels = [c for c in channels if c not in digested]
        written = [_digest_add(channel=c, row=row(c), now=now) for c in digested]
        written = [w for w in written if w is not None]
    else:
        written = []
    if not dedupe_key:
        return written + [(r.pk, None) for r in Outbox.objects.bulk_create([row(c) for c in channels])]
    for channel in channels:
        if Outbox.objects.filter(channel=channel, dedupe_key=dedupe_key[:200]).exists():
            continue
        try:
            with transaction.atomic():
                r = row(channel)
                r.save()
        except IntegrityError:
            continue  # the same dedupe key raced in from elsewhere: already queued once
        written.append((r.pk, None))
    return written


def _digest_title(row: Outbox) -> str:
    return f"{row.bot_label or 'bot'}: {row.items} fill(s) since {row.created_at:%H:%M} UTC"[:200]


def _digest_add(*, channel: Channel, row: Outbox, now: datetime) -> tuple[int, float] | None:
    """Fills of one bot for a channel with a digest: at most one message per `fill_digest_minutes`.

    The first fill after a quiet spell goes out at once; later ones join the bot's pending digest, due
    `fill_digest_minutes` after the previous message of that bot went out. Returns (id, countdown) of a
    new row to enqueue, or None when the fills joined a digest that is already queued."""
    mine = Outbox.objects.filter(channel=channel, event=FILLS, bot_id=row.bot_id)
    pending = (mine.select_for_update(of=("self",)).filter(state=Outbox.State.PENDING, attempts=0)
               .order_by("-created_at", "-pk").first())
    if pending is not None:  # locked: delivery cannot claim it while the fills are added
        pending.items += row.items
        if len(pending.text) + len(row.text) + 1 <= 4000:
            pending.text = f"{pending.text}\n{row.text}" if pending.text else row.text
        pending.title = _digest_title(pending)
        pending.save(update_fields=["items", "text", "title"])
        return None
    last = mine.order_by("-created_at", "-pk").first()  # sent, being sent, failed, or pending a retry
    window = timedelta(minutes=channel.fill_digest_minutes)
    due = now
    if last is not None:
        due = max(now, (last.sent_at or last.claimed_at or last.created_at) + window)
    row.next_attempt_at = due
    if due > now:
        row.title = _digest_title(row)
    row.save()
    countdown = max((due - now).total_seconds(), float(settings.NOTIFICATION_FOLD_SECONDS))
    return row.pk, countdown


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


def _enqueue(written: list[tuple[int, float | None]]) -> None:
    by_delay: dict[float | None, list[int]] = {}
    for pk, countdown in written:
        by_delay.setdefault(countdown, []).append(pk)
    for countdown, ids in by_delay.items():
        enqueue_after_commit(ids, countdown=countdown)


def notify(*, user, event: str, severity: str, title: str, text: str, url_path: str = "", bot=None,
           dedupe_key: str | None = None, items: int = 1) -> None:
    """Queue an alert for every enabled channel of `user` that wants this event at this severity.

    Fills of a bot (`event="fills"`, `bot` given, `items` fills in `text`, one per line) go into that
    bot's digest on channels that keep one (the default); every other alert is queued at once.
    Safe inside the caller's transaction (rows and delivery go with its commit); never raises and
    never waits on a network send.
    """
    try:
        with transaction.atomic():  # a savepoint: a failure here cannot break the caller's transaction
            channels = list(channels_matching(user=user, event=event, severity=severity))
            written = _write(channels=channels, user=user, event=event, severity=severity, title=title, text=text,
                             url_path=url_path, bot=bot, dedupe_key=dedupe_key, items=items)
        _enqueue(written)
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
            written = _write(channels=[None], user=None, event=event, severity=severity, title=title, text=text,
                             url_path=url_path, bot=None, dedupe_key=dedupe_key)
        _enqueue(written)
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
