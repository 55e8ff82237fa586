"""Which client address to believe: the peer, unless the peer is a proxy we were told to trust.

uvicorn runs with `--no-proxy-headers` (its own handling cannot trust a unix-socket peer, and its
"*" believes the left-most, client-written X-Forwarded-For entry). This ASGI middleware does it:
`FORWARDED_ALLOW_IPS` lists trusted proxy addresses or networks, and `unix` for a peer on a unix
socket (nginx in production). Only when the peer is trusted does X-Forwarded-For count, and then
the right-most entry that is not itself a trusted proxy: nginx appends the address it saw, so
anything a client wrote stays to the left of it. Empty (the default, `make run`): trust nobody.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=8)
def _trusted(spec: tuple[str, ...]) -> tuple[bool, tuple]:
    unix, nets = False, []
    for item in spec:
        item = item.strip()
        if not item:
            continue
        if item == "unix":
            unix = True
            continue
        nets.append(ipaddress.ip_network(item, strict=False))  # a bad entry fails loudly at start
    return unix, tuple(nets)


@lru_cache(maxsize=1024)  # per request it parsed the peer's address again: a few % of a request's CPU
def _is_trusted(host: str, nets: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def forwarded_client(scope: dict, spec: tuple[str, ...]) -> tuple[str, int] | None:
    """The client address to use for this connection, or None to keep the scope's own."""
    unix, nets = _trusted(spec)
    if not unix and not nets:  # trust nobody (the default): nothing to look at
        return None
    peer = scope.get("client")
    peer_trusted = (unix and not peer) or (bool(peer) and _is_trusted(peer[0], nets))
    if not peer_trusted:
        return None
    values = [v.decode("latin1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
    hops = [h.strip() for h in ",".join(values).split(",") if h.strip()]
    for hop in reversed(hops):
        host = hop[1:hop.index("]")] if hop.startswith("[") and "]" in hop else hop
        if host.count(":") == 1:  # "1.2.3.4:5678"
            host = host.split(":", 1)[0]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # garbage from somewhere: keep the peer rather than guess
        if not _is_trusted(host, nets):
            return (host, 0)
    return None


class TrustedProxyHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            from django.conf import settings

            client = forwarded_client(scope, tuple(settings.FORWARDED_ALLOW_IPS))
            if client is not None:
                scope = {**scope, "client": client}
        return await self.app(scope, receive, send)
