"""tp_websocket_connections counts open sockets over every web process (each publishes its own count)."""

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from config.asgi import application
from config.redis import get_redis
from ops.websockets import WS_KEY_PREFIX, _get_counter, websockets_open
from tests.ws.communicator import WebsocketCommunicator

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _open(user):
    token = (await sync_to_async(tokens_issue)(user=user))["access_token"]
    comm = WebsocketCommunicator(application, "/ws/prices/", headers=[(b"authorization", f"Bearer {token}".encode()),
                                                                       (b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def test_open_sockets_are_counted_and_closed_ones_are_not(alice):
    count = sync_to_async(websockets_open)
    # this test process is also the web process: a socket an earlier test left open is still counted in it
    before = _get_counter().open
    first, second = await _open(alice), await _open(alice)
    assert await count() == before + 2
    refused = WebsocketCommunicator(application, "/ws/prices/")  # anonymous: refused, never counted
    connected, _ = await refused.connect(timeout=5)
    assert not connected and await count() == before + 2
    # another web process (or host) publishes its own count beside ours
    await sync_to_async(get_redis().set)(f"{WS_KEY_PREFIX}web-2:4242", 5, ex=60)
    assert await count() == before + 7
    await first.disconnect()
    await second.disconnect()
    await sync_to_async(get_redis().delete)(f"{WS_KEY_PREFIX}web-2:4242")
    assert await count() == before
