"""Our own DingTalk custom-robot sender (not Apprise): signed URL, ActionCard, errcode mapping.

Signing, as DingTalk documents it: sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")),
URL-encoded exactly once and sent with `timestamp` as query parameters; the timestamp must be
within one hour of DingTalk's clock. A sign left raw fails whenever its base64 holds '+' (read
as a space), one encoded twice always fails.
"""

import base64
import hashlib
import hmac
import http.client
import json
import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, quote, urlsplit

from notifications.netguard import TargetRefused, check_host, host_allowed, outbound_guard
from notifications.transports.base import Message, SendResult, Transport, TransportError

DINGTALK_HOST = "oapi.dingtalk.com"
DINGTALK_PATH = "/robot/send"
TIMEOUT_SECONDS = 5.0
RATE_LIMIT_PER_MINUTE = 20  # DingTalk: 20 messages per minute per robot


def sign(secret: str, timestamp_ms: int) -> str:
    """The raw (not URL-encoded) base64 signature."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_query(secret: str, timestamp_ms: int) -> str:
    return f"timestamp={timestamp_ms}&sign={quote(sign(secret, timestamp_ms), safe='')}"


class WebhookInvalid(ValueError):
    """The webhook URL is not a DingTalk robot URL we may send to. The message is safe to show."""


def webhook_parts(url: str, *, allowed: Iterable[str]) -> tuple[str, str, int, str, str]:
    """Validate a robot webhook URL; returns (scheme, host, port, path, access_token)."""
    allowed = tuple(allowed)
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        raise WebhookInvalid("Not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookInvalid(f"Paste the robot's webhook URL: https://{DINGTALK_HOST}{DINGTALK_PATH}?access_token=…")
    is_allowed = host_allowed(host, allowed)
    if host != DINGTALK_HOST and not is_allowed:
        raise WebhookInvalid(f"DingTalk robot URLs must point at {DINGTALK_HOST} "
                             "(the operator can allow another host with NOTIFICATION_ALLOWED_HOSTS).")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_allowed):
        raise WebhookInvalid("The webhook URL must start with https://.")
    if parts.username or parts.password:
        raise WebhookInvalid("The webhook URL must not contain a user name or password.")
    if parts.path != DINGTALK_PATH:
        raise WebhookInvalid(f"The webhook URL path must be {DINGTALK_PATH}.")
    token = parse_qs(parts.query).get("access_token", [""])[0]
    if not token or not token.isascii() or any(c.isspace() for c in token):
        raise WebhookInvalid("The webhook URL must carry the robot's access_token.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), parts.path, token


def payload(message: Message) -> dict:
    """An ActionCard with one button to the dashboard; plain markdown when there is no link."""
    if message.url:
        return {"msgtype": "actionCard",
                "actionCard": {"title": message.title[:100], "text": message.text, "btnOrientation": "0",
                               "singleTitle": message.button, "singleURL": message.url}}
    return {"msgtype": "markdown", "markdown": {"title": message.title[:100], "text": message.text}}


# errcode -> (reason, permanent). 310000 is refined by errmsg below.
_ERRCODES = {
    130101: ("too many messages: DingTalk allows 20 per minute per robot; queued for later", False),
    410100: ("too many messages: DingTalk is throttling this robot; queued for later", False),
    300001: ("invalid token: DingTalk does not know this robot's access_token (robot removed or URL "
             "mistyped)", True),
    400101: ("invalid token: DingTalk does not know this robot's access_token", True),
    300005: ("invalid token: this robot's access_token is no longer valid", True),
    400102: ("the robot is disabled in DingTalk", True),
    400106: ("the robot no longer exists in DingTalk", True),
    400013: ("the DingTalk group of this robot was dissolved", True),
    -1: ("DingTalk is busy (errcode -1)", False),
}
_CONTENT_ERRCODES = {400105, 430101, 430102, 430103, 430104}


# DingTalk's 310000 answers ("the robot's security settings refused it"), in the wording it uses today
# (Chinese, labelled "description:…;solution:…;link:…") and the older English one. Matched in this order:
# "description" holds the letters "ip", so the IP rule only takes "ip" as a word of its own.
_SECURITY_RULES = (
    (("关键词", "keyword"),
     "keyword mismatch: the robot's security settings require a custom keyword this message does not contain "
     "— add one of our words (e.g. the alert title) or use signing instead", True),
    (("签名过期", "时间戳", "timestamp"),
     "rejected timestamp: this server's clock is more than an hour off DingTalk's; fix the clock (NTP)", False),
    (("签名", "sign"),
     "bad signature: the robot's signing secret (SEC…) does not match — copy it again from the robot's "
     "security settings (\"Additional signature\")", True),
    (("白名单", "whitelist", "ip地址", re.compile(r"(?<![a-z])ip(?![a-z])")),
     "IP not allowed: add this server's public IP to the robot's IP allow-list", True),
)


def _description(errmsg: str) -> str:
    """The description of DingTalk's labelled answer ("description:…;solution:…;link:…"), else the whole
    message without its "more: [url]" tail; one line."""
    text = " ".join((errmsg or "").split())
    found = re.search(r"description:([^;]*)", text)
    if found:
        return found.group(1).strip()
    return re.sub(r",?\s*more:\s*\[[^\]]*\]", "", text).strip(" ;,")


def dingtalk_text(errmsg: str, *, limit: int = 100) -> str:
    """What DingTalk said, for people: its description (and solution, when short enough), no link."""
    said = _description(errmsg)
    solution = re.search(r"solution:([^;]*)", " ".join((errmsg or "").split()))
    if solution and said and len(said) + len(solution.group(1)) + 2 <= limit:
        said = f"{said}; {solution.group(1).strip()}"
    return said if len(said) <= limit else said[:limit - 1] + "…"


def _reason_310000(errmsg: str) -> tuple[str, bool]:
    low = _description(errmsg).lower()  # the solution of a bad signature speaks of the timestamp too
    reason, permanent = "the robot's security settings rejected the message", True
    for words, text, is_permanent in _SECURITY_RULES:
        if any(w.search(low) if isinstance(w, re.Pattern) else w in low for w in words):
            reason, permanent = text, is_permanent
            break
    said = dingtalk_text(errmsg)
    return (f"{reason} (DingTalk said: {said})" if said else reason), permanent


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _read_until(response, sock, deadline: float, *, limit: int) -> bytes:
    """Read the body within the deadline, however slowly the server drips it."""
    chunks, size = [], 0
    while size < limit:
        sock.settimeout(_left(deadline))
        chunk = response.read1(min(4096, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class DingTalkTransport(Transport):
    name = "dingtalk"

    def __init__(self, *, webhook_url: str, secret: str = "", allowed_hosts: Iterable[str] = (),
                 timeout: float = TIMEOUT_SECONDS, clock: Callable[[], float] = time.time):
        self.webhook_url = webhook_url
        self.secret = secret
        self.allowed = tuple(allowed_hosts)
        self.timeout = timeout
        self.clock = clock

    def _scrub(self, text: str, token: str) -> str:
        for value in (token, self.secret):
            if value:
                text = text.replace(value, "…")
        return text

    def send(self, message: Message) -> SendResult:
        try:
            scheme, host, port, path, token = webhook_parts(self.webhook_url, allowed=self.allowed)
        except WebhookInvalid as exc:
            raise TransportError(str(exc), permanent=True) from None
        try:
            check_host(host, port, allowed=self.allowed)
        except TargetRefused as exc:
            raise TransportError(f"refused target: {exc.reason}", permanent=True) from None
        query = urlsplit(self.webhook_url.strip()).query
        if self.secret:
            query = f"{query}&{signed_query(self.secret, int(self.clock() * 1000))}"
        body = json.dumps(payload(message), ensure_ascii=False).encode()
        conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(host, port, timeout=self.timeout)
        try:
            with outbound_guard(self.allowed) as guard:
                try:
                    deadline = time.monotonic() + self.timeout  # one budget for the whole exchange
                    conn.request("POST", f"{path}?{query}", body=body,
                                 headers={"Content-Type": "application/json;charset=utf-8"})
                    sock = conn.sock
                    sock.settimeout(_left(deadline))
                    response = conn.getresponse()
                    raw = _read_until(response, sock, deadline, limit=64 * 1024)
                except TargetRefused as exc:
                    raise TransportError(f"refused target: {exc.reason}", permanent=True) from None
                except TimeoutError:
                    raise TransportError(f"DingTalk did not answer within {self.timeout:g} s") from None
                except OSError as exc:
                    if guard.refused:
                        raise TransportError(f"refused target: {guard.refused}", permanent=True) from None
                    raise TransportError(f"could not reach DingTalk ({type(exc).__name__})") from None
                except http.client.HTTPException as exc:
                    raise TransportError(f"DingTalk sent a broken answer ({type(exc).__name__})") from None
        finally:
            conn.close()
        status = response.status
        if 300 <= status < 400:
            raise TransportError(f"DingTalk answered with a redirect (HTTP {status}); redirects are not followed",
                                 permanent=True, http_status=status)
        if status == 429 or status >= 500:
            raise TransportError(f"DingTalk server error (HTTP {status})", http_status=status)
        if status != 200:
            raise TransportError(f"not a DingTalk robot endpoint (HTTP {status})", permanent=True, http_status=status)
        try:
            answer = json.loads(raw or b"{}")
            errcode = int(answer.get("errcode", -999))
            errmsg = str(answer.get("errmsg", ""))
        except (ValueError, TypeError, AttributeError):
            raise TransportError("DingTalk answered HTTP 200 without its JSON errcode", http_status=status) from None
        if errcode == 0:
            return SendResult(http_status=status, errcode=0)
        if errcode == 310000:
            reason, permanent = _reason_310000(self._scrub(errmsg, token))
        elif errcode in _ERRCODES:
            reason, permanent = _ERRCODES[errcode]
        elif errcode in _CONTENT_ERRCODES:
            raise TransportError(f"DingTalk refused this message's content (errcode {errcode})", http_status=status,
                                 errcode=errcode, retry=False)
        else:
            reason = f"DingTalk error {errcode}: {self._scrub(errmsg, token)[:80]}"
            permanent = False
        raise TransportError(reason, permanent=permanent, http_status=status, errcode=errcode,
                             retry_after=60.0 if errcode in (130101, 410100) else None)
