"""The beat-driven poll on the real ccxt client against the local Binance emulator.

One batched ticker request per exchange per poll, whatever the number of bots, symbols and users;
prices stored and pushed to subscribers; junk from the exchange marks prices stale and never escapes
the task.
"""

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from tests.emulator.binance import TICKER_PATHS
from tests.emulator.fixtures import *  # noqa: F403
from trading.groups import price_group
from trading.models import Market, WatchlistItem
from trading.price_selectors import tickers_latest
from trading.services.bots import bot_create, bot_start
from trading.services.markets import markets_sync
from trading.services.prices import subscriptions_touch
from trading.tasks import poll_prices, sync_markets

pytestmark = pytest.mark.django_db


def ticker_requests(emu) -> int:
    return sum(emu.count(path) for path in TICKER_PATHS)


@pytest.fixture
def emu(use_binance_emulator, settings):
    settings.MARKET_DATA_SOURCE = "ccxt"
    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT"]
    settings.CCXT_TIMEOUT_MS = 1500
    return use_binance_emulator


def test_one_ticker_request_per_exchange_per_poll_for_any_number_of_bots_symbols_and_users(
        emu, make_user):
    for n in range(4):
        user = make_user(f"trader{n}")
        WatchlistItem.objects.create(user=user, exchange="binance", symbol="ETH/USDT")
        WatchlistItem.objects.create(user=user, exchange="binance", symbol="LTC/BTC")
        for symbol in ("BTC/USDT", "ETH/BTC", "XRP/USDT"):
            bot = bot_create(owner=user, name=f"{symbol} {n}", exchange="binance", symbol=symbol,
                             strategy="sma_cross", params={"fast": 2, "slow": 5}, starting_balance=Decimal("1000"))
            bot_start(bot=bot, actor=user)
    subscriptions_touch(exchange="binance", symbols=["XRP/USDT"])  # an open page

    poll_prices()
    assert ticker_requests(emu) == 1  # 4 users, 12 bots, 5 symbols: one request
    poll_prices()
    assert ticker_requests(emu) == 2

    latest = tickers_latest(exchange="binance", symbols=["BTC/USDT", "ETH/USDT", "ETH/BTC", "LTC/BTC", "XRP/USDT"])
    assert all(t is not None and not t.stale for t in latest.values())
    assert latest["BTC/USDT"].bid == Decimal(emu.price("BTC/USDT")["bid"])


def _poll_and_read():
    """What the worker does, then what a page reads; in a worker thread that leaves no connection open."""
    try:
        poll_prices()
        return tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"]
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
async def test_polled_prices_are_stored_and_pushed_to_subscribers(emu):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(price_group("binance", "BTC/USDT"), channel)
    emu.set_price("BTC/USDT", bid="61000.50", ask="61000.70")

    stored = await sync_to_async(_poll_and_read)()

    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert message["type"] == "price.tick"
    assert (message["tick"]["bid"], message["tick"]["ask"]) == ("61000.5", "61000.7")
    assert (stored.bid, stored.ask, stored.stale, stored.source) == (Decimal("61000.5"), Decimal("61000.7"),
                                                                    False, "ccxt")
    await layer.group_discard(price_group("binance", "BTC/USDT"), channel)


@pytest.mark.parametrize("fault, options, reason", [
    ("null_prices", {}, "bid is missing"),
    ("garbage_prices", {}, ""),
    ("malformed", {"path": "/api/v3/ticker/24hr"}, ""),
    ("timeout", {"seconds": 3}, "did not answer within 1.5 s"),
    ("server_error", {"status": 503}, ""),
    ("rate_limit", {}, ""),
])
def test_junk_from_the_exchange_marks_prices_stale_and_never_escapes_the_task(emu, fault, options, reason, caplog):
    poll_prices()  # a good price first
    good = tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"]
    assert not good.stale

    emu.fail(fault, **options)
    poll_prices()  # must not raise

    tick = tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"]
    assert tick.stale is True and tick.reason
    assert reason in tick.reason
    assert tick.last == good.last  # the last good price stays on show, flagged stale
    assert any("stale" in r.getMessage() for r in caplog.records)

    emu.clear_faults()
    poll_prices()
    assert not tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"].stale


def test_markets_are_synced_from_the_exchange_with_precision_limits_and_fees(emu):
    assert markets_sync(exchange="binance") == 5
    btc = Market.objects.get(exchange="binance", symbol="BTC/USDT")
    assert (btc.base, btc.quote, btc.active) == ("BTC", "USDT", True)
    assert btc.price_step == Decimal("0.01") and btc.min_cost == Decimal("5")
    assert btc.taker_fee == Decimal("0.001")

    emu.fail("server_error", status=503)
    sync_markets()  # the daily task: one failing exchange is logged, never raised
    assert Market.objects.filter(exchange="binance").count() == 5
