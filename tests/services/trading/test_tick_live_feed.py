"""The tick on a live-style feed (synthetic here; ccxt takes the same path): strategies decide on the 1m
candles closed before now, market orders fill at the current ask/bid moved against the trader."""

import time
from decimal import Decimal

import pytest

from trading.feeds import Bar
from trading.models import Fill
from trading.services.bots import bot_create, bot_start
from trading.services.candles import candles_store
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def synthetic(settings):
    from trading.services import tick_feeds

    settings.MARKET_DATA_SOURCE = "synthetic"
    settings.DEFAULT_WATCHLIST = []
    tick_feeds._candle_cache.clear()  # closed candles are cached per minute in the process; each test has its own


def _closed_candles(n=5):
    minute = int(time.time() // 60) * 60_000
    bars = [Bar(minute - (n - i) * 60_000, Decimal("100"), Decimal("101"), Decimal("99"), Decimal("100"),
                Decimal("5")) for i in range(n)]
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=bars)
    return bars


def test_a_market_buy_fills_at_the_ask_plus_slippage(alice, synthetic):
    bars = _closed_candles()
    bot = bot_start(bot=bot_create(owner=alice, name="dca", exchange="binance", symbol="BTC/USDT", strategy="dca",
                                   params={"interval_minutes": 1, "order_amount": "50"},
                                   starting_balance=Decimal("100"), fill_overrides={"reject_rate": "0"}, seed=3),
                    actor=alice)
    tick = prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0]
    summary = tick_run(exchange="binance", tick_key=int(tick.received_at * 1000))
    assert summary.evaluated == 1 and summary.fills == 1
    fill = Fill.objects.get(bot=bot)
    assert fill.reference_price == tick.ask
    assert tick.ask * Decimal("1.001") <= fill.price <= tick.ask * Decimal("1.002")
    assert fill.fee == (fill.price * fill.amount * Decimal("0.001")).quantize(Decimal("1e-18"))
    bot.refresh_from_db()
    assert bot.state["engine"]["last_bar_ms"] == bars[-1].ts_ms  # decided on the newest CLOSED candle
    # the same closed candle again (next poll, same minute): nothing new to decide, nothing written
    again = prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0]
    if int(again.received_at // 60) == int(tick.received_at // 60):
        summary = tick_run(exchange="binance", tick_key=int(again.received_at * 1000))
        assert summary.evaluated == 0 and summary.idle == 1
    assert Fill.objects.filter(bot=bot).count() == 1


def test_without_closed_candles_a_bot_waits_and_says_so(alice, synthetic):
    bot = bot_start(bot=bot_create(owner=alice, name="dca", exchange="binance", symbol="BTC/USDT", strategy="dca",
                                   params={"interval_minutes": 1, "order_amount": "50"},
                                   starting_balance=Decimal("100")), actor=alice)
    tick = prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0]
    tick_run(exchange="binance", tick_key=int(tick.received_at * 1000))
    bot.refresh_from_db()
    assert bot.last_tick_note == "no closed candle yet"
    assert not Fill.objects.filter(bot=bot).exists()
