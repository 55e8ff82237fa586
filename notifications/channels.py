"""Notification channels: a user's DingTalk robots and Apprise targets, encrypted at rest.

Validation refuses targets outside NOTIFICATION_ALLOWED_HOSTS (and private addresses); the URL and
secret are decrypted only for a transport (`transport_for`), never logged, returned or raised.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from config.api import DomainError
from config.vault import InvalidToken, vault
from notifications.models import EVENTS, FILL_DIGEST_MAX_MINUTES, FILL_DIGEST_MINUTES, SEVERITIES, Channel
from notifications.netguard import TargetRefused, check_host
from notifications.transports.apprise import AppriseTransport, AppriseUrlInvalid, apprise_check
from notifications.transports.base import Transport
from notifications.transports.dingtalk import (
    RATE_LIMIT_PER_MINUTE,
    DingTalkTransport,
    WebhookInvalid,
    webhook_parts,
)

log = logging.getLogger(__name__)


class ChannelInvalid(DomainError):
    code = "invalid"


class ChannelUndecryptable(DomainError):
    code = "channel_undecryptable"
    status = 503


def _allowed() -> tuple[str, ...]:
    return tuple(settings.NOTIFICATION_ALLOWED_HOSTS)


def _invalid(field: str, message: str) -> ChannelInvalid:
    return ChannelInvalid(f"{field}: {message}", fields={field: [message]})


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
        scheme, host, port, path, token = webhook_parts(webhook_url, allowed=_allowed())
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
    return webhook_url, secret, webhook_masked(scheme=scheme, host=host, port=port, path=path, token=token)


def webhook_masked(*, scheme: str, host: str, port: int, path: str, token: str) -> str:
    """The webhook URL as the user pasted it, with all but the last 4 characters of the token masked."""
    default = 443 if scheme == "https" else 80
    netloc = host if port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}?access_token=…{token[-4:]}"[:80]


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


def _clean_digest(minutes) -> int:
    if minutes is None or minutes == "":
        return FILL_DIGEST_MINUTES
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        minutes = -1
    if not 0 <= minutes <= FILL_DIGEST_MAX_MINUTES:
        raise _invalid("fill_digest_minutes", f"Between 0 (every fill at once) and {FILL_DIGEST_MAX_MINUTES} "
                                              "minutes.")
    return minutes


def channel_create(*, owner, kind: str, name: str, webhook_url: str = "", secret: str = "", apprise_url: str = "",
                   events: list[str] | None = None, min_severity: str = "info",
                   rate_limit_per_minute: int | None = None, fill_digest_minutes: int | None = None,
                   request=None) -> Channel:
    name, min_severity, rate = _clean_common(name=name, min_severity=min_severity,
                                             rate_limit_per_minute=rate_limit_per_minute)
    events = _clean_events(events)
    v = vault()
    channel = Channel(owner=owner, kind=kind, name=name, events=events, min_severity=min_severity,
                      enc_key_id=v.primary_id, fill_digest_minutes=_clean_digest(fill_digest_minutes))
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
    if changes.get("fill_digest_minutes") is not None:
        fields["fill_digest_minutes"] = _clean_digest(changes["fill_digest_minutes"])
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
