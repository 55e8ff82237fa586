"""A frozen client on a real TCP socket (uvicorn, the Redis channel layer): it is dropped, and a healthy
client on the same symbol keeps getting every tick on time meanwhile.

The frozen client is a raw socket with a tiny receive buffer that stops reading after subscribing, so
the kernel buffers and then uvicorn's write buffer fill up, exactly as with a suspended browser tab
on a slow link.
"""

import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.services import tokens_issue
from trading.groups import price_group

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "STALL/USDT"


def _handshake(sock: socket.socket, host: str, token: str) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/prices/ HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head


def _send_text(sock: socket.socket, text: str) -> None:
    payload, mask = text.encode(), os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _read_exact(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exact(sock, 8))[0]
    return b0 & 0x0F, _read_exact(sock, length)


def _publish(n: int, size: int) -> None:
    """What the poll publishes, with a padded text so a few ticks fill a frozen client's buffers."""
    layer = get_channel_layer()
    text = json.dumps({"type": "tick", "exchange": "binance", "symbol": SYMBOL, "n": n, "pad": "x" * size})
    async_to_sync(layer.group_send)(price_group("binance", SYMBOL), {
        "type": "price.tick", "tick": {"exchange": "binance", "symbol": SYMBOL}, "text": text})


def test_a_frozen_socket_is_dropped_and_the_others_keep_their_pace(live_server_url, alice, bob, settings):
    import websockets.sync.client as ws_client

    settings.PRICE_WS_STALL_SECONDS = 1.0
    url = urlparse(live_server_url)
    frozen = socket.socket()
    frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frozen.connect((url.hostname, url.port))
    frozen.settimeout(10)
    _handshake(frozen, url.netloc, tokens_issue(user=alice)["access_token"])
    _send_text(frozen, json.dumps({"action": "subscribe", "exchange": "binance", "symbols": [SYMBOL]}))
    opcode, body = _read_frame(frozen)
    assert opcode == 1 and json.loads(body)["type"] == "subscribed"

    bob_token = tokens_issue(user=bob)["access_token"]
    got: list[tuple[int, float]] = []
    sent_at: dict[int, float] = {}
    with ws_client.connect(f"ws://{url.netloc}/ws/prices/", max_size=None,
                           additional_headers={"Authorization": f"Bearer {bob_token}"}) as healthy:
        healthy.send(json.dumps({"action": "subscribe", "exchange": "binance", "symbols": [SYMBOL]}))
        assert json.loads(healthy.recv(timeout=5))["type"] == "subscribed"
        time.sleep(0.3)  # the hub's subscription reaches Redis

        def read_healthy():
            while len(got) < 40:
                got.append((json.loads(healthy.recv(timeout=10))["n"], time.monotonic()))

        reader = threading.Thread(target=read_healthy)
        reader.start()
        for n in range(40):  # 40 x 256 KB in 4 s: more than the kernel (up to 4 MB) and uvicorn buffer for it
            sent_at[n] = time.monotonic()
            _publish(n, 256 * 1024)
            time.sleep(0.1)
        reader.join(timeout=15)

    assert [n for n, _ in got] == list(range(40))  # every tick, in order, none skipped
    delays = [at - sent_at[n] for n, at in got]
    # held behind the frozen client, a tick would wait until it is dropped (>= PRICE_WS_STALL_SECONDS, 1 s);
    # under 1 s leaves room for a loaded machine (the suite runs on parallel workers)
    assert max(delays) < 0.9, f"the healthy client waited up to {max(delays):.2f} s for a tick"

    # The frozen client, reading again: a bounded backlog (what the buffers held when it was dropped),
    # then the server's close frame 1013 "try again later" - not the 40 ticks published meanwhile.
    frames, close_code = 0, None
    with contextlib.suppress(EOFError, TimeoutError, ConnectionError):
        while True:
            opcode, body = _read_frame(frozen)
            if opcode == 8:
                close_code = struct.unpack("!H", body[:2])[0]
                break
            frames += 1
    frozen.close()
    assert close_code == 1013
    assert frames < 40
