"""SSRF guard for outbound notification traffic. Plain Python: no Django.

Two layers:
- `check_host()` refuses a host that is (or resolves to) a private, loopback, link-local,
  multicast or otherwise non-public address, unless the operator allows it by name
  (NOTIFICATION_ALLOWED_HOSTS). Used when a channel is saved and again right before a send.
- `outbound_guard()` applies the same rule to every name resolution made by the current
  thread while a notification is being sent, so the address actually connected to is the one
  checked (DNS can change between check and connect) and every redirect hop is checked too.
"""

import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class TargetRefused(OSError):
    """The target is not a public address and its host is not allowed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = (host or "").strip().lower().rstrip(".").strip("[]")
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry == "*" or host == entry or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _describe(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast:
        return "a multicast address"
    return "a non-public address"


_real_getaddrinfo = socket.getaddrinfo
_state = threading.local()
_install_lock = threading.Lock()


def _refusal(host: str, address: str) -> TargetRefused:
    return TargetRefused(f"{host} is {_describe(address)}; notifications only go to public addresses "
                         "(the operator can allow a host with NOTIFICATION_ALLOWED_HOSTS)")


def check_host(host: str, port: int | None = None, *, allowed: Iterable[str], resolve: bool = True) -> None:
    """Raise TargetRefused unless `host` is allowed or every address it has is public.

    A name that does not resolve is not refused here (the send will fail on its own and is
    checked again at connect time).
    """
    host = (host or "").strip().rstrip(".").strip("[]")
    if not host:
        raise TargetRefused("the URL has no host")
    if host_allowed(host, allowed):
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        literal = True
    except ValueError:
        literal = False
    if literal:
        if not address_is_public(host):
            raise _refusal(host, host)
        return
    if not resolve:
        return
    try:
        infos = _real_getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    for info in infos:
        address = info[4][0]
        if not address_is_public(address):
            raise _refusal(host, address)


def _guarded_getaddrinfo(host, port, *args, **kwargs):
    allowed = getattr(_state, "allowed", None)
    results = _real_getaddrinfo(host, port, *args, **kwargs)
    if allowed is None:
        return results
    name = host.decode() if isinstance(host, bytes) else str(host)
    if host_allowed(name, allowed):
        return results
    for info in results:
        address = info[4][0]
        if not address_is_public(address):
            refusal = _refusal(name, address)
            _state.refused = refusal.reason
            raise refusal
    return results


def _install() -> None:
    with _install_lock:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo


@contextmanager
def outbound_guard(allowed: Iterable[str]) -> Iterator[threading.local]:
    """While active, this thread can only connect to public addresses or allowed hosts.

    Yields a state object whose `refused` attribute holds the reason if a connection was refused.
    """
    _install()
    previous = getattr(_state, "allowed", None)
    _state.allowed = tuple(allowed)
    _state.refused = None
    try:
        yield _state
    finally:
        _state.allowed = previous
