"""`/ws/events/` without a header: a short-lived single-use ticket, never a token in the query string, and the
query string of a WebSocket path never reaches the server's log."""

import asyncio
import logging
import socket
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue, user_deactivate
from config.asgi import application
from tests.ws.communicator import WebsocketCommunicator

pytestmark = [pytest.mark.django_db(transaction=True)]


@sync_to_async
def _ticket(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access_token']}")
    r = client.post("/api/auth/ws-ticket/")
    assert r.status_code == 201, r.content
    return r.json()


async def _connect(query: str):
    comm = WebsocketCommunicator(application, f"/ws/events/?{query}")
    connected, code = await comm.connect(timeout=5)
    if connected:
        assert (await comm.receive_json_from())["type"] == "hello"
        await comm.disconnect()
    return connected, code


async def test_a_ticket_opens_one_connection_only(alice):
    body = await _ticket(alice)
    assert 0 < body["expires_in"] <= 60
    assert await _connect(f"ticket={body['ticket']}") == (True, None)
    connected, code = await _connect(f"ticket={body['ticket']}")  # spent
    assert not connected and code == 4401


async def test_an_access_token_in_the_query_string_is_not_accepted(alice):
    token = (await sync_to_async(tokens_issue)(user=alice))["access_token"]
    connected, code = await _connect(f"token={token}")
    assert not connected and code == 4401


async def test_a_ticket_expires_and_dies_with_the_users_tokens(alice, settings):
    settings.WS_TICKET_SECONDS = 1
    old = await _ticket(alice)
    await asyncio.sleep(1.3)
    assert (await _connect(f"ticket={old['ticket']}"))[0] is False
    settings.WS_TICKET_SECONDS = 30
    live = await _ticket(alice)
    await sync_to_async(user_deactivate)(user=alice, actor=None)
    assert (await _connect(f"ticket={live['ticket']}"))[0] is False
    assert (await _connect("ticket=" + "x" * 500))[0] is False


def test_the_server_log_has_websocket_paths_without_their_query_string(alice, caplog):
    import uvicorn
    from websockets.sync.client import connect

    ticket = asyncio.run(_ticket(alice))["ticket"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="info",
                                           log_config=None, lifespan="off", ws="websockets-sansio"))
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with connect(f"ws://127.0.0.1:{port}/ws/events/?ticket={ticket}", open_timeout=5) as ws:
            assert '"hello"' in ws.recv(timeout=5)
        # spent ticket: refused, whichever way the library says it
        with pytest.raises(Exception), connect(f"ws://127.0.0.1:{port}/ws/events/?ticket={ticket}",  # noqa: B017
                                               open_timeout=5) as ws:
            ws.recv(timeout=5)
        time.sleep(0.3)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")]
    assert any("/ws/events/" in line for line in lines), lines
    assert not any(ticket in line for line in lines), lines
    assert ticket not in caplog.text
