"""On the ccxt feed a paper market order walks the exchange's real order book (here the Binance emulator,
through the real ccxt client), one book fetch per symbol per tick; without a book it falls back to ask/bid."""

import time
from decimal import Decimal

import pytest

from tests.emulator.fixtures import *  # noqa: F403
from trading.feeds import Bar
from trading.models import Fill, TickRun
from trading.services.bots import bot_create, bot_start
from trading.services.candles import candles_store
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def ccxt_feed(settings, use_binance_emulator):  # noqa: F811
    from trading.services import tick_feeds

    settings.MARKET_DATA_SOURCE = "ccxt"
    settings.DEFAULT_WATCHLIST = []
    tick_feeds._candle_cache.clear()
    minute = int(time.time() // 60) * 60_000
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=[
        Bar(minute - (3 - i) * 60_000, Decimal("65000"), Decimal("65010"), Decimal("64990"), Decimal("65000"),
            Decimal("3")) for i in range(3)])
    return use_binance_emulator


def _buyer(owner, amount="5000"):
    bot = bot_create(owner=owner, name="dca", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": amount}, starting_balance=Decimal("10000"),
                     fill_overrides={"reject_rate": "0"}, seed=5)
    return bot_start(bot=bot, actor=owner)


def test_a_market_buy_walks_the_asks_of_the_real_book(alice, ccxt_feed):
    from exchanges.adapter import fetch_order_book, public_client

    bot = _buyer(alice)
    tick = prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0]
    assert not tick.stale
    summary = tick_run(exchange="binance", tick_key=int(tick.received_at * 1000))
    assert summary.fills == 1, summary
    fill = Fill.objects.get(bot=bot)
    asks = [(Decimal(str(p)), Decimal(str(a))) for p, a in
            fetch_order_book(public_client("binance"), "BTC/USDT", limit=20)["asks"]]
    assert fill.reference_price == asks[0][0]  # the best ask of the book, not the ticker
    # volume-weighted over the levels it needed: never better than the best ask, never worse than the last used
    assert asks[0][0] <= fill.price <= asks[-1][0]
    spent = fill.price * fill.amount + fill.fee
    assert spent <= Decimal("5000") and fill.liquidity == "taker"
    if fill.amount > asks[0][1]:
        assert fill.price > asks[0][0] and fill.slippage > 0  # it ate into the second level and beyond


def test_without_a_book_the_fill_falls_back_to_the_ask_plus_slippage(alice, ccxt_feed, settings):
    bot = _buyer(alice, amount="100")
    tick = prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0]
    ccxt_feed.stop()  # the exchange goes away between the ticker and the book
    tick_run(exchange="binance", tick_key=int(tick.received_at * 1000))
    fill = Fill.objects.get(bot=bot)
    assert fill.reference_price == tick.ask
    assert tick.ask * Decimal("1.001") <= fill.price <= tick.ask * Decimal("1.002")
    run = TickRun.objects.get()
    assert "no order book for BTC/USDT" in run.notes
