"""`/ws/prices/` through the real ASGI stack (auth, origin check, routing) and the Redis channel layer."""

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from config.asgi import application
from tests.ws.communicator import WebsocketCommunicator
from trading.services.prices import prices_poll

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def synthetic(settings):
    settings.MARKET_DATA_SOURCE = "synthetic"
    settings.DEFAULT_WATCHLIST = []


async def _connect(user=None, origin: bytes | None = None, token: str | None = None):
    headers = []
    if user is not None:
        token = (await sync_to_async(tokens_issue)(user=user))["access_token"]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin:
        headers.append((b"origin", origin))
    comm = WebsocketCommunicator(application, "/ws/prices/", headers=headers)
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


async def _poll(symbols):
    return await sync_to_async(prices_poll)(exchange="binance", symbols=set(symbols))


async def test_anonymous_connections_are_refused():
    comm, connected, code = await _connect()
    assert not connected and code == 4401


async def test_a_bad_token_is_refused():
    comm, connected, code = await _connect(token="not-a-jwt")
    assert not connected and code == 4401


async def test_a_foreign_site_cannot_open_a_socket_with_our_cookie(alice):
    comm, connected, _ = await _connect(alice, origin=b"https://evil.example.net")
    assert not connected


async def test_subscribe_receive_unsubscribe(alice, synthetic):
    comm, connected, _ = await _connect(alice, origin=b"http://127.0.0.1")
    assert connected
    await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT", "ETH/USDT"]})
    assert await comm.receive_json_from(timeout=5) == {"type": "subscribed", "exchange": "binance",
                                                       "symbols": ["BTC/USDT", "ETH/USDT"]}
    await asyncio.sleep(0.2)  # the pub/sub subscription reaches Redis
    result = await _poll(["BTC/USDT", "ETH/USDT"])
    got = {}
    for _ in range(2):
        msg = await comm.receive_json_from(timeout=5)
        got[msg["symbol"]] = msg
    assert set(got) == {"BTC/USDT", "ETH/USDT"}
    polled = {t.symbol: t for t in result.ticks}
    for symbol, msg in got.items():
        assert msg["type"] == "tick" and msg["exchange"] == "binance" and msg["stale"] is False
        assert msg["last"] == str(polled[symbol].last)
        assert Decimal(msg["bid"]) < Decimal(msg["last"]) < Decimal(msg["ask"])
        assert set(msg) >= {"bid", "ask", "last", "ts", "stale", "received_at"}

    await comm.send_json_to({"action": "unsubscribe", "exchange": "binance", "symbols": ["ETH/USDT"]})
    assert (await comm.receive_json_from(timeout=5))["type"] == "unsubscribed"
    await asyncio.sleep(0.2)
    await _poll(["BTC/USDT", "ETH/USDT"])
    msg = await comm.receive_json_from(timeout=5)
    assert msg["symbol"] == "BTC/USDT"
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_a_new_subscriber_gets_the_latest_price_at_once(alice, synthetic):
    await _poll(["BTC/USDT"])
    comm, _, _ = await _connect(alice)
    await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]})
    assert (await comm.receive_json_from(timeout=5))["type"] == "subscribed"
    snapshot = await comm.receive_json_from(timeout=5)
    assert snapshot["type"] == "tick" and snapshot["symbol"] == "BTC/USDT"
    await comm.disconnect()


@pytest.mark.parametrize("frame, message", [
    ('{"action": "dance"}', "Unknown action"),
    ('{"action": "subscribe", "exchange": "nowhere", "symbols": ["BTC/USDT"]}', "Unknown exchange"),
    ('{"action": "subscribe", "exchange": "binance", "symbols": "BTC/USDT"}', "non-empty list"),
    ('{"action": "subscribe", "exchange": "binance", "symbols": []}', "non-empty list"),
    ('[1, 2, 3]', "JSON object"),
    ("this is not json", "must be JSON"),
])
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(alice, frame, message):
    comm, _, _ = await _connect(alice)
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from(timeout=5)
    assert reply["type"] == "error" and message in reply["message"]
    await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]})
    assert (await comm.receive_json_from(timeout=5))["type"] == "subscribed"
    await comm.disconnect()


async def test_too_many_symbols_are_refused(alice):
    comm, _, _ = await _connect(alice)
    symbols = [f"C{i}/USDT" for i in range(51)]
    await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": symbols})
    assert "At most 50" in (await comm.receive_json_from(timeout=5))["message"]
    await comm.disconnect()


async def test_a_stalled_client_is_dropped_and_never_delays_the_others(alice, bob, synthetic, settings):
    """A: its socket stops taking data (a frozen browser tab). B: a normal client."""
    settings.PRICE_WS_STALL_SECONDS = 0.5
    stalled = asyncio.Event()

    def stalling(app):
        async def wrapped(scope, receive, send):
            async def maybe_stall(message):
                if message["type"] == "websocket.send" and stalled.is_set():
                    await asyncio.Event().wait()  # never returns: the transport is full
                await send(message)
            return await app(scope, receive, maybe_stall)
        return wrapped

    token = (await sync_to_async(tokens_issue)(user=alice))["access_token"]
    a = WebsocketCommunicator(stalling(application), "/ws/prices/",
                              headers=[(b"authorization", f"Bearer {token}".encode())])
    assert (await a.connect())[0]
    b, _, _ = await _connect(bob)
    for comm in (a, b):
        await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]})
        assert (await comm.receive_json_from())["type"] == "subscribed"
    await asyncio.sleep(0.2)
    stalled.set()
    started = asyncio.get_running_loop().time()
    for _ in range(3):
        await _poll(["BTC/USDT"])
        assert (await b.receive_json_from(timeout=2))["type"] == "tick"
    assert asyncio.get_running_loop().time() - started < 2
    closed = await a.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 1013}
    await b.disconnect()


async def test_one_subscription_per_symbol_per_process_however_many_connections(alice, bob, synthetic):
    """The process's price hub joins the channel-layer group once and fans each tick out in memory."""
    from trading.groups import price_group
    from trading.price_hub import price_hub

    hub, group = price_hub(), price_group("binance", "BTC/USDT")
    layer = hub.layer._get_layer()  # this event loop's Redis pub/sub layer
    comms = [(await _connect(user))[0] for user in (alice, bob, alice)]
    for comm in comms:
        await comm.send_json_to({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]})
        assert (await comm.receive_json_from(timeout=5))["type"] == "subscribed"
    assert len(hub.members[group]) == 3
    assert layer.groups[layer._get_group_channel_name(group)] == {hub.channel}  # one member: the hub
    await asyncio.sleep(0.2)
    result = await _poll(["BTC/USDT"])
    last = str(result.ticks[0].last)
    for comm in comms:
        assert (await comm.receive_json_from(timeout=5))["last"] == last

    await comms[0].disconnect()
    await _poll(["BTC/USDT"])
    for comm in comms[1:]:
        assert (await comm.receive_json_from(timeout=5))["type"] == "tick"
    for comm in comms[1:]:
        await comm.disconnect()
    assert group not in hub.members
    assert layer._get_group_channel_name(group) not in layer.groups  # the process left the group
