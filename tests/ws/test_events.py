"""`/ws/events/`: a signed-in user's fills, order updates and bot status changes, pushed after commit."""

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from config.asgi import application
from tests.bots_support import poll_and_tick, use_replay, write_recording
from tests.ws.communicator import WebsocketCommunicator
from trading.services.bots import bot_create, bot_start, bot_stop

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _connect(user=None, token=None):
    headers = []
    if user is not None:
        token = (await sync_to_async(tokens_issue)(user=user))["access_token"]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    comm = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


@sync_to_async
def _buyer(owner):
    bot = bot_create(owner=owner, name="DCA", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "25"}, starting_balance=Decimal("100"),
                     fill_overrides={"reject_rate": "0"}, seed=1)
    return bot


async def _next(comm, kind, timeout=5):
    while True:
        msg = await comm.receive_json_from(timeout=timeout)
        if msg["type"] == kind:
            return msg


async def _nothing(comm, wait: float = 0.5):
    await asyncio.sleep(wait)
    assert comm.output_queue.empty(), await comm.receive_json_from()


async def test_anonymous_and_bad_tokens_are_refused():
    _, connected, code = await _connect()
    assert not connected and code == 4401
    _, connected, code = await _connect(token="not-a-jwt")
    assert not connected and code == 4401


async def test_fills_orders_and_status_changes_reach_the_owner_only(alice, bob, settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    mine, connected, _ = await _connect(alice)
    assert connected and (await mine.receive_json_from())["type"] == "hello"
    theirs, connected, _ = await _connect(bob)
    assert connected and (await theirs.receive_json_from())["type"] == "hello"
    await asyncio.sleep(0.2)  # the group subscriptions reach Redis

    bot = await _buyer(alice)
    await sync_to_async(bot_start)(bot=bot, actor=alice)
    status = await _next(mine, "bot")
    assert status["bot"]["id"] == bot.pk and status["bot"]["status"] == "running"

    await sync_to_async(poll_and_tick)()
    order = await _next(mine, "order")
    fill = await _next(mine, "fill")
    assert order["order"]["bot_id"] == bot.pk and order["order"]["status"] == "filled"
    assert fill["fill"]["side"] == "buy" and fill["fill"]["order_id"] == order["order"]["id"]
    assert Decimal(fill["fill"]["price"]) > 0 and fill["fill"]["fee_currency"] == "USDT"

    await sync_to_async(bot_stop)(bot=bot, actor=alice)
    assert (await _next(mine, "bot"))["bot"]["status"] == "stopped"

    await _nothing(theirs)  # bob hears nothing of alice's bot
    await mine.disconnect()
    await theirs.disconnect()


async def test_nothing_is_sent_for_a_change_that_rolls_back(alice):
    from django.db import transaction

    comm, connected, _ = await _connect(alice)
    assert connected and (await comm.receive_json_from())["type"] == "hello"
    await asyncio.sleep(0.2)
    bot = await _buyer(alice)

    @sync_to_async
    def start_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            bot_start(bot=bot, actor=alice)
            raise RuntimeError("something later in the same transaction failed")

    await start_then_fail()
    await _nothing(comm)
    await comm.disconnect()
