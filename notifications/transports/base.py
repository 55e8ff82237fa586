"""What every transport takes and raises. Plain Python: no Django, no models."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    title: str
    text: str  # markdown body, already composed (severity, bot, numbers, time)
    severity: str = "info"
    url: str = ""  # absolute link to the relevant dashboard page, or ""
    button: str = "Open in dashboard"


@dataclass(frozen=True)
class SendResult:
    http_status: int | None = None
    errcode: int | None = None


@dataclass
class TransportError(Exception):
    """A send failed. `reason` is for people and never holds a URL, token or secret.

    permanent=True: retrying cannot help (bad signature, invalid token, refused target); the
    channel is disabled with the reason. Otherwise the delivery is retried with backoff
    (unless retry=False: only this message failed).
    """

    reason: str
    permanent: bool = False
    http_status: int | None = None
    errcode: int | None = None
    retry_after: float | None = field(default=None)
    retry: bool = True  # False: this message cannot succeed (e.g. its content was refused); channel stays on

    def __str__(self) -> str:
        return self.reason


class Transport:
    name = "transport"

    def send(self, message: Message) -> SendResult:
        raise NotImplementedError
