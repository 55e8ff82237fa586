"""Writes for notifications: channels, the outbox, delivery.

`notify()` is what trading and risk code call: it writes outbox rows and enqueues delivery after
commit, and never raises. Delivery (`outbox_deliver`) claims a row, folds a storm of due messages
into one summary, respects the channel's rate limit by rescheduling, sends outside any
transaction, records the attempt, retries transient failures with exponential backoff and
disables the channel on permanent ones. No URL, token or secret is logged, returned or raised.
"""

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import audit_record
from config.api import DomainError
from keys.crypto import InvalidToken
from keys.services import vault
from notifications.models import EVENTS, SEVERITIES, Channel, DeliveryAttempt, Outbox, severity_rank
from notifications.netguard import TargetRefused, check_host
from notifications.selectors import channels_matching
from notifications.transports.apprise import AppriseTransport, AppriseUrlInvalid, apprise_check
from notifications.transports.base import Message, Transport, TransportError
from notifications.transports.dingtalk import (
    RATE_LIMIT_PER_MINUTE,
    DingTalkTransport,
    WebhookInvalid,
    webhook_parts,
)

log = logging.getLogger(__name__)

TEST_EVENT = "test"
SUMMARY_LINES = 25
FOLD_MAX = 500
STUCK_AFTER = timedelta(minutes=10)
KEEP_FINISHED = timedelta(days=90)  # the delivery log keeps finished messages this long
_LOCK_NAMESPACE = 7007  # pg advisory lock namespace: one delivery at a time per channel


class ChannelInvalid(DomainError):
    code = "invalid"


class ChannelUndecryptable(DomainError):
    code = "channel_undecryptable"
    status = 503


def _allowed() -> tuple[str, ...]:
    return tuple(settings.NOTIFICATION_ALLOWED_HOSTS)


def _invalid(field: str, message: str) -> ChannelInvalid:
    return ChannelInvalid(f"{field}: {message}", fields={field: [message]})


# --- channels ----------------------------------------------------------------------------------

def _clean_events(events) -> list[str]:
    if events is None:
        return list(EVENTS)
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise _invalid("events", f"A list of events: {', '.join(EVENTS)}.")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise _invalid("events", f"Unknown event(s) {', '.join(unknown)}. Choose from: {', '.join(EVENTS)}.")
    return [e for e in EVENTS if e in events]


def _clean_dingtalk(webhook_url: str, secret: str) -> tuple[str, str, str]:
    webhook_url = (webhook_url or "").strip()
    try:
        _, host, port, _, token = webhook_parts(webhook_url, allowed=_allowed())
        check_host(host, port, allowed=_allowed())
    except WebhookInvalid as exc:
        raise _invalid("webhook_url", str(exc)) from None
    except TargetRefused as exc:
        raise _invalid("webhook_url", f"Refused: {exc.reason}.") from None
    secret = (secret or "").strip()
    if secret and (not secret.startswith("SEC") or not secret.isascii() or any(c.isspace() for c in secret)
                   or not 8 <= len(secret) <= 200):
        raise _invalid("secret", "The robot's signing secret starts with SEC (robot security settings → "
                                 "Additional signature).")
    return webhook_url, secret, f"{host} · token …{token[-4:]}"


def _clean_apprise(apprise_url: str) -> tuple[str, str]:
    apprise_url = (apprise_url or "").strip()
    try:
        _, hint = apprise_check(apprise_url, allowed=_allowed())
    except AppriseUrlInvalid as exc:
        raise _invalid("apprise_url", str(exc)) from None
    except TargetRefused as exc:
        raise _invalid("apprise_url", f"Refused: {exc.reason}.") from None
    return apprise_url, hint[:80]


def _clean_common(*, name: str, min_severity: str, rate_limit_per_minute) -> tuple[str, str, int | None]:
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise _invalid("name", "Give the channel a name of 1 to 64 characters.")
    if min_severity not in SEVERITIES:
        raise _invalid("min_severity", f"One of: {', '.join(SEVERITIES)}.")
    if rate_limit_per_minute is not None and not 1 <= int(rate_limit_per_minute) <= 600:
        raise _invalid("rate_limit_per_minute", "Between 1 and 600 messages per minute.")
    return name, min_severity, rate_limit_per_minute


def channel_create(*, owner, kind: str, name: str, webhook_url: str = "", secret: str = "", apprise_url: str = "",
                   events: list[str] | None = None, min_severity: str = "info",
                   rate_limit_per_minute: int | None = None, request=None) -> Channel:
    name, min_severity, rate = _clean_common(name=name, min_severity=min_severity,
                                             rate_limit_per_minute=rate_limit_per_minute)
    events = _clean_events(events)
    v = vault()
    channel = Channel(owner=owner, kind=kind, name=name, events=events, min_severity=min_severity,
                      enc_key_id=v.primary_id)
    if kind == Channel.Kind.DINGTALK:
        url, secret, hint = _clean_dingtalk(webhook_url, secret)
        channel.webhook_url_enc, channel.secret_enc = v.encrypt(url), v.encrypt(secret) if secret else ""
        channel.rate_limit_per_minute = min(rate or RATE_LIMIT_PER_MINUTE, RATE_LIMIT_PER_MINUTE)
    elif kind == Channel.Kind.APPRISE:
        url, hint = _clean_apprise(apprise_url)
        channel.apprise_url_enc = v.encrypt(url)
        channel.rate_limit_per_minute = rate or 30
    else:
        raise _invalid("kind", "Choose dingtalk or apprise.")
    channel.target_hint = hint
    try:
        with transaction.atomic():
            channel.save()
            audit_record(action="notification_channel.create", actor=owner, target=f"channel:{channel.pk}",
                         request=request, details={"kind": kind, "name": name, "target": hint})
    except IntegrityError:
        raise _invalid("name", f"You already have a channel called '{name}'.") from None
    return channel


def channel_update(*, channel: Channel, actor, request=None, **changes) -> Channel:
    """Change settings; a new target or secret re-enables a channel that was disabled."""
    name, min_severity, rate = _clean_common(
        name=changes.get("name", channel.name), min_severity=changes.get("min_severity", channel.min_severity),
        rate_limit_per_minute=changes.get("rate_limit_per_minute"))
    v = vault()
    fields = {"name": name, "min_severity": min_severity}
    if "events" in changes:
        fields["events"] = _clean_events(changes["events"])
    new_target = any(changes.get(k) for k in ("webhook_url", "secret", "apprise_url"))
    if channel.kind == Channel.Kind.DINGTALK:
        if new_target:
            current_url, current_secret = channel_targets(channel=channel)
            url, secret, hint = _clean_dingtalk(changes.get("webhook_url") or current_url,
                                                changes.get("secret") or current_secret)
            fields.update(webhook_url_enc=v.encrypt(url), secret_enc=v.encrypt(secret) if secret else "",
                          target_hint=hint, enc_key_id=v.primary_id)
        if rate is not None:
            fields["rate_limit_per_minute"] = min(rate, RATE_LIMIT_PER_MINUTE)
    else:
        if changes.get("webhook_url") or changes.get("secret"):
            raise _invalid("apprise_url", "This is an Apprise channel: give a new apprise_url instead.")
        if new_target:
            url, hint = _clean_apprise(changes["apprise_url"])
            # the other encrypted columns are empty for Apprise channels, so a new key id is right
            fields.update(apprise_url_enc=v.encrypt(url), target_hint=hint, enc_key_id=v.primary_id)
        if rate is not None:
            fields["rate_limit_per_minute"] = rate
    if new_target or changes.get("is_active") is True:
        fields.update(is_active=True, disabled_reason="")
    elif changes.get("is_active") is False:
        fields.update(is_active=False, disabled_reason="Paused by you")
    for key, value in fields.items():
        setattr(channel, key, value)
    try:
        with transaction.atomic():
            channel.save(update_fields=list(fields))
            audit_record(action="notification_channel.update", actor=actor, target=f"channel:{channel.pk}",
                         request=request, details={"changed": sorted(k for k in changes if changes[k] is not None
                                                                     and k not in ("secret",)),
                                                   "secret_changed": bool(changes.get("secret"))})
    except IntegrityError:
        raise _invalid("name", f"You already have a channel called '{name}'.") from None
    return channel


def channel_delete(*, channel: Channel, actor, request=None) -> None:
    with transaction.atomic():
        audit_record(action="notification_channel.delete", actor=actor, target=f"channel:{channel.pk}",
                     request=request, details={"name": channel.name, "target": channel.target_hint})
        channel.delete()


def channel_disable(*, channel: Channel, reason: str, actor=None, request=None) -> Channel:
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(is_active=False, disabled_reason=reason[:300])
        audit_record(action="notification_channel.disable", actor=actor, target=f"channel:{channel.pk}",
                     request=request, details={"reason": reason[:300]})
    channel.is_active, channel.disabled_reason = False, reason[:300]
    return channel


def channel_targets(*, channel: Channel) -> tuple[str, str]:
    """Decrypt (target URL, secret) for a transport. Never log or return these anywhere else."""
    v = vault()
    try:
        if channel.kind == Channel.Kind.DINGTALK:
            return v.decrypt(channel.webhook_url_enc), v.decrypt(channel.secret_enc) if channel.secret_enc else ""
        return v.decrypt(channel.apprise_url_enc), ""
    except InvalidToken:
        log.error("notification channel %s cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS",
                  channel.pk)
        raise ChannelUndecryptable("This channel cannot be decrypted with the server's current encryption "
                                   "keys; the operator has been told.") from None


def transport_for(channel: Channel | None) -> Transport | None:
    """The transport of a channel; None for the platform channel when the environment sets none."""
    if channel is None:
        if not settings.DINGTALK_WEBHOOK_URL:
            return None
        return DingTalkTransport(webhook_url=settings.DINGTALK_WEBHOOK_URL, secret=settings.DINGTALK_SECRET,
                                 allowed_hosts=_allowed())
    target, secret = channel_targets(channel=channel)
    if channel.kind == Channel.Kind.DINGTALK:
        return DingTalkTransport(webhook_url=target, secret=secret, allowed_hosts=_allowed())
    return AppriseTransport(url=target, allowed_hosts=_allowed())


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


# --- notify ------------------------------------------------------------------------------------

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
    The worker splits it per channel (see tasks.deliver)."""
    from notifications.tasks import deliver

    for countdown, ids in groups.items():
        try:
            deliver.apply_async((ids,), countdown=countdown, retry=False)
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


def _enqueue_after_commit(ids: list[int], countdown: float | None = None) -> None:
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
        _enqueue_after_commit(ids)
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
        _enqueue_after_commit(ids)
    except Exception:  # noqa: BLE001 - alerts must never break trading
        log.exception("notify_operator(%s) failed; the alert was not queued", event)


# --- delivery ----------------------------------------------------------------------------------

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
            _enqueue_after_commit([row.pk], countdown=countdown)
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
                    _enqueue_after_commit([first], countdown=delay)
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
        _enqueue_after_commit(due, countdown=0)
    return len(due)


def outbox_split_by_channel(*, outbox_ids: list[int]) -> list[list[int]]:
    """Group outbox ids by channel (platform rows together), keeping their order."""
    channel_of = dict(Outbox.objects.filter(pk__in=outbox_ids).values_list("pk", "channel_id"))
    groups: dict[int | None, list[int]] = {}
    for pk in outbox_ids:
        if pk in channel_of:
            groups.setdefault(channel_of[pk], []).append(pk)
    return list(groups.values())


def periodic_tasks_ensure(**_kwargs) -> None:
    """Default beat schedule for notification retries; created once, then staff own it in admin."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name="Deliver due notifications",
                                       defaults={"task": "notifications.deliver_due", "interval": every,
                                                 "expire_seconds": 15})
