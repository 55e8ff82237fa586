"""Every channel that is not DingTalk goes through Apprise (Telegram, Slack, Discord, email, JSON webhooks ...).

Apprise reports failures only as log lines, which may quote the URL: we capture them, scrub
every part of the URL out, and keep at most one short line as the reason.
"""

import re
from collections.abc import Iterable
from urllib.parse import unquote

from notifications.netguard import TargetRefused, check_host, outbound_guard
from notifications.transports.base import Message, SendResult, Transport, TransportError

_SEVERITY_TYPES = {"info": "info", "warning": "warning", "critical": "failure"}


class AppriseUrlInvalid(ValueError):
    """The Apprise URL cannot be used. The message is safe to show."""


def _plugin(url: str):
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise AppriseUrlInvalid("Apprise does not recognise this URL (see the Apprise wiki for the URL of each "
                                "service, e.g. tgram://bottoken/chat_id or json://host/path).")
    return plugin


def apprise_check(url: str, *, allowed: Iterable[str]) -> tuple[str, str]:
    """Validate an Apprise URL; returns (service name, masked hint). Raises AppriseUrlInvalid or TargetRefused."""
    url = (url or "").strip()
    if not url or any(c.isspace() for c in url):
        raise AppriseUrlInvalid("Give one Apprise URL without spaces.")
    scheme = url.split(":", 1)[0].lower()
    if scheme in {"dingtalk", "dingtalks"}:
        raise AppriseUrlInvalid("For DingTalk choose the DingTalk kind: it signs messages properly.")
    plugin = _plugin(url)
    if "host" in getattr(plugin, "template_tokens", {}) and plugin.host:
        check_host(plugin.host, plugin.port, allowed=allowed)
    service = str(getattr(plugin, "service_name", "") or scheme)
    host = plugin.host if "host" in getattr(plugin, "template_tokens", {}) else ""
    return service, f"{service} · {host}" if host else f"{service} · {scheme}://…"


def _secrets_of(url: str) -> list[str]:
    pieces = {url, unquote(url)}
    for part in re.split(r"[/:@?&=#,+]", url):
        if len(part) >= 4:
            pieces.add(part)
            pieces.add(unquote(part))
    return sorted(pieces, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    for piece in _secrets_of(url):
        text = text.replace(piece, "…")
    return text


class AppriseTransport(Transport):
    name = "apprise"

    def __init__(self, *, url: str, allowed_hosts: Iterable[str] = ()):
        self.url = url.strip()
        self.allowed = tuple(allowed_hosts)

    def send(self, message: Message) -> SendResult:
        import apprise

        try:
            apprise_check(self.url, allowed=self.allowed)
        except AppriseUrlInvalid as exc:
            raise TransportError(str(exc), permanent=True) from None
        except TargetRefused as exc:
            raise TransportError(f"refused target: {exc.reason}", permanent=True) from None
        plugin = _plugin(self.url)
        body = message.text + (f"\n\n[{message.button}]({message.url})" if message.url else "")
        with apprise.LogCapture(level=apprise.logging.WARNING) as logs, outbound_guard(self.allowed) as guard:
            try:
                ok = plugin.notify(body=body, title=message.title,
                                   notify_type=_SEVERITY_TYPES.get(message.severity, "info"),
                                   body_format=apprise.NotifyFormat.MARKDOWN)
            except Exception as exc:  # noqa: BLE001 - a plugin bug must be a failed delivery, not a crash
                ok = False
                logs.write(f"{type(exc).__name__}\n")
        if ok:
            return SendResult()
        if guard.refused:
            raise TransportError(f"refused target: {guard.refused}", permanent=True)
        lines = [line.strip() for line in logs.getvalue().splitlines() if line.strip()]
        detail = scrub(lines[-1], self.url)[:160] if lines else "no details"
        service = getattr(plugin, "service_name", "") or "the service"
        raise TransportError(f"{service} did not accept the message: {detail}")
