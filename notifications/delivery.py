"""Delivery: claim an outbox row, fold a storm of due rows of its channel into one summary, respect
the channel's rate limit by rescheduling, send outside any transaction, record the attempt, retry
transient failures with exponential backoff and disable the channel on permanent ones.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_record
from notifications.channels import ChannelUndecryptable, channel_disable, transport_for
from notifications.models import Channel, DeliveryAttempt, Outbox, severity_rank
from notifications.outbox import enqueue_after_commit
from notifications.transports.base import Message, TransportError
from notifications.transports.dingtalk import RATE_LIMIT_PER_MINUTE

log = logging.getLogger(__name__)

TEST_EVENT = "test"
SUMMARY_LINES = 25
FOLD_MAX = 500
_LOCK_NAMESPACE = 7007  # pg advisory lock namespace: one delivery at a time per channel


def _absolute(url_path: str) -> str:
    base = settings.DASHBOARD_PUBLIC_URL.rstrip("/")
    if not base:
        return ""
    path = url_path or "/"
    return base + (path if path.startswith("/") else f"/{path}")


def message_compose(rows: list[Outbox]) -> Message:
    """One row -> its own message; several -> one summary listing them (a folded storm)."""
    top = max(rows, key=lambda r: (severity_rank(r.severity), -r.pk))
    if len(rows) == 1:
        row = rows[0]
        lines = [f"### {row.title}", f"**Severity:** {row.severity.upper()}"]
        if row.bot_label:
            lines.append(f"**Bot:** {row.bot_label}")
        if row.event != TEST_EVENT:
            lines.append(f"**Event:** {row.event}")
        if row.text:
            lines.append(row.text)
        lines.append(f"###### {row.created_at:%Y-%m-%d %H:%M:%S} UTC")
        return Message(title=row.title, text="\n\n".join(lines), severity=row.severity, url=_absolute(row.url_path))
    rows = sorted(rows, key=lambda r: (r.created_at, r.pk))
    titles = {r.title for r in rows}
    title = (f"{len(rows)} alerts: {rows[0].title}" if len(titles) == 1
             else f"{len(rows)} alerts, most severe: {top.title}")
    lines = [f"### {title}", f"**Severity:** {top.severity.upper()} · "
             f"{rows[0].created_at:%H:%M:%S}–{rows[-1].created_at:%H:%M:%S} UTC"]
    for row in rows[:SUMMARY_LINES]:
        who = f" — {row.bot_label}" if row.bot_label else ""
        lines.append(f"- {row.severity.upper()} {row.title}{who} ({row.created_at:%H:%M:%S})")
    if len(rows) > SUMMARY_LINES:
        lines.append(f"- … and {len(rows) - SUMMARY_LINES} more (see the delivery log)")
    paths = {r.url_path for r in rows}
    url = _absolute(paths.pop() if len(paths) == 1 else "/notifications/")
    return Message(title=title[:200], text="\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]),
                   severity=top.severity, url=url)


def backoff_seconds(attempts: int) -> int:
    """15 s, 30 s, 1 min, 2 min ... capped at one hour (base from NOTIFICATION_RETRY_BASE_SECONDS)."""
    return int(min(3600, settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def _attempts_in_window(channel_id: int | None, now: datetime):
    qs = DeliveryAttempt.objects.filter(at__gt=now - timedelta(minutes=1), at__lte=now)
    return qs.filter(channel_id=channel_id) if channel_id else qs.filter(channel__isnull=True)


def _limit_for(channel: Channel | None) -> int:
    return channel.rate_limit_per_minute if channel else RATE_LIMIT_PER_MINUTE


def outbox_deliver(*, outbox_id: int, now: datetime | None = None, fold: bool = True, test: bool = False) -> str:
    """Deliver one outbox row (and, in a storm, every due row of its channel as one summary).

    Returns "ok", "retry", "failed", "rate_limited", "skipped" (not pending / not due).
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = Outbox.objects.select_for_update(of=("self",)).select_related("channel").filter(pk=outbox_id).first()
        if row is None or row.state != Outbox.State.PENDING or row.next_attempt_at > now:
            return "skipped"
        channel = row.channel
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, channel.pk if channel else 0])
        if channel is not None:
            channel = Channel.objects.get(pk=channel.pk)  # fresh under the lock: another worker may have disabled it
        if channel is not None and not channel.is_active and not test:
            row.state, row.last_error = Outbox.State.FAILED, f"channel disabled: {channel.disabled_reason}"[:300]
            row.save(update_fields=["state", "last_error"])
            return "failed"
        window = list(_attempts_in_window(channel.pk if channel else None, now).order_by("at")
                      .values_list("at", flat=True))
        if len(window) >= _limit_for(channel):
            row.next_attempt_at = window[0] + timedelta(minutes=1)
            row.save(update_fields=["next_attempt_at"])
            countdown = max(1.0, (row.next_attempt_at - now).total_seconds())
            enqueue_after_commit([row.pk], countdown=countdown)
            return "rate_limited"
        batch = [row]
        if fold and row.event != TEST_EVENT:  # a test message goes out alone
            others = list(Outbox.objects.select_for_update(skip_locked=True)
                          .filter(channel=channel, state=Outbox.State.PENDING, next_attempt_at__lte=now)
                          .exclude(pk=row.pk).exclude(event=TEST_EVENT).order_by("created_at", "pk")[:FOLD_MAX])
            if len(others) + 1 >= settings.NOTIFICATION_FOLD_THRESHOLD:
                batch += others
        ids = [r.pk for r in batch]
        Outbox.objects.filter(pk__in=ids).update(state=Outbox.State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        attempt = DeliveryAttempt.objects.create(outbox=row, channel=channel, at=now, messages=len(batch))
    for r in batch:
        r.attempts += 1

    started = time.monotonic()
    error: TransportError | None = None
    result = None
    try:
        transport = transport_for(channel)
        if transport is None:
            raise TransportError("no platform channel configured (DINGTALK_WEBHOOK_URL)", retry=False)
        result = transport.send(message_compose(batch))
    except TransportError as exc:
        error = exc
    except ChannelUndecryptable as exc:
        error = TransportError(exc.message, permanent=False)
    except Exception as exc:  # noqa: BLE001 - a bug in a transport is a failed delivery, never a crash upstream
        log.exception("notification transport crashed for outbox %s", row.pk)
        error = TransportError(f"internal error while sending ({type(exc).__name__})")
    duration = int((time.monotonic() - started) * 1000)
    return _record(row=row, batch=batch, channel=channel, attempt=attempt, error=error, result=result,
                   duration_ms=duration, now=now, test=test)


def _record(*, row, batch, channel, attempt, error, result, duration_ms, now, test) -> str:
    done_at = timezone.now() if now is None else now
    ids = [r.pk for r in batch]
    with transaction.atomic():
        if error is None:
            attempt.outcome, attempt.reason = DeliveryAttempt.Outcome.OK, (
                "delivered" if len(batch) == 1 else f"delivered as one summary of {len(batch)} messages")
            attempt.http_status, attempt.errcode = result.http_status, result.errcode
            Outbox.objects.filter(pk=row.pk).update(state=Outbox.State.SENT, sent_at=done_at, last_error="")
            Outbox.objects.filter(pk__in=ids).exclude(pk=row.pk).update(
                state=Outbox.State.FOLDED, folded_into=row, sent_at=done_at, last_error="")
            if test and channel is not None and not channel.is_active:
                Channel.objects.filter(pk=channel.pk).update(is_active=True, disabled_reason="")
            outcome = "ok"
        else:
            attempt.http_status, attempt.errcode = error.http_status, error.errcode
            reason = error.reason[:300]
            final = error.permanent or not error.retry or test
            if not final:
                # transient: retry with backoff unless the message is out of attempts
                delay = max(backoff_seconds(max(r.attempts for r in batch)), int(error.retry_after or 0))
                retry_at = now + timedelta(seconds=delay)
                exhausted = [r.pk for r in batch if r.attempts >= r.max_attempts]
                Outbox.objects.filter(pk__in=exhausted).update(
                    state=Outbox.State.FAILED, last_error=f"gave up after {row.attempts} attempts: {reason}"[:300])
                Outbox.objects.filter(pk__in=ids).exclude(pk__in=exhausted).update(
                    state=Outbox.State.PENDING, next_attempt_at=retry_at, last_error=reason)
                if len(exhausted) < len(ids):
                    attempt.outcome = DeliveryAttempt.Outcome.RETRY
                    attempt.reason = f"{reason} — retry at {retry_at:%H:%M:%S} UTC"[:300]
                    first = row.pk if row.pk not in exhausted else next(i for i in ids if i not in exhausted)
                    enqueue_after_commit([first], countdown=delay)
                    outcome = "retry"
                else:
                    attempt.outcome, attempt.reason = DeliveryAttempt.Outcome.FAILED, reason
                    outcome = "failed"
            else:
                attempt.outcome, attempt.reason = DeliveryAttempt.Outcome.FAILED, reason
                Outbox.objects.filter(pk__in=ids).update(state=Outbox.State.FAILED, last_error=reason)
                outcome = "failed"
                if error.permanent and channel is not None and channel.is_active:
                    channel_disable(channel=channel, reason=reason)
                elif error.permanent and channel is None:
                    log.error("platform notification channel refused a message: %s", reason)
        attempt.duration_ms = duration_ms
        attempt.save(update_fields=["outcome", "reason", "http_status", "errcode", "duration_ms"])
    if error is not None:
        log.warning("notification %s to %s: %s (%s)", row.pk, f"channel {channel.pk}" if channel else "platform",
                    outcome, error.reason)
    return outcome


def channel_test(*, channel: Channel, actor, request=None, now: datetime | None = None) -> dict:
    """Send a test message now (also to a disabled channel, to prove a fix) and say what happened.

    Returns {"ok", "outcome", "message", "tested_at"}; a success re-enables the channel.
    """
    now = now or timezone.now()
    row = Outbox.objects.create(
        channel=channel, user=channel.owner, event=TEST_EVENT, severity="info", title="Test message",
        text=f"This is a test from the trading platform for the channel **{channel.name}**. "
             "If you can read this, alerts will reach you here.",
        url_path="/notifications/", next_attempt_at=now, created_at=now, max_attempts=1)
    outcome = outbox_deliver(outbox_id=row.pk, now=now, fold=False, test=True)
    row.refresh_from_db()
    channel.refresh_from_db()
    kind = "DingTalk" if channel.kind == Channel.Kind.DINGTALK else (channel.target_hint.split(" · ")[0] or "Apprise")
    if outcome == "ok":
        message = f"Delivered: {kind} accepted the test message."
    elif outcome == "rate_limited":
        message = (f"Not sent yet: this channel is at its limit of {channel.rate_limit_per_minute} messages per "
                   "minute. The test is queued and goes out within a minute.")
    else:
        message = f"Not delivered: {row.last_error or 'unknown error'}."
        if not channel.is_active:
            message += " The channel is disabled until you fix it (save a new URL or secret, then test again)."
    ok = outcome == "ok"
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(last_tested_at=now, last_test_ok=ok,
                                                     last_test_message=message[:300])
        audit_record(action="notification_channel.test", actor=actor, target=f"channel:{channel.pk}",
                     request=request, details={"ok": ok, "outcome": outcome})
    return {"ok": ok, "outcome": outcome, "message": message, "tested_at": now.isoformat(),
            "outbox_id": row.pk}
