"""A bot's candle timeframe through the real tick (synthetic feed; ccxt takes the same path): a 5m bot decides
on the stored 1m candles aggregated into 5m candles, only once a 5m candle has closed, while a 1m bot on the same
market decides every minute; the number of queries per tick does not grow with the number of bots."""

import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trading.engine.candles import aggregate
from trading.feeds import Bar
from trading.models import Fill
from trading.services.bots import bot_create, bot_start
from trading.services.candles import candles_store
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db
M = 60_000


@pytest.fixture
def synthetic(settings):
    from trading.services import tick_feeds

    settings.MARKET_DATA_SOURCE = "synthetic"
    settings.DEFAULT_WATCHLIST = []
    tick_feeds._candle_cache.clear()


@pytest.fixture
def boundary():
    """A 5m boundary 10-15 minutes ago, with 1m candles stored from 40 minutes before it to 8 minutes after."""
    b = (int(time.time() * 1000) // (5 * M)) * 5 * M - 10 * M
    bars = [Bar(b + i * M, Decimal(100 + i), Decimal(101 + i), Decimal(99 + i), Decimal(100 + i) + Decimal("0.5"),
                Decimal("1")) for i in range(-40, 9)]
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=bars)
    return b, bars


def _bot(owner, timeframe):
    return bot_start(bot=bot_create(owner=owner, name=f"dca {timeframe}", exchange="binance", symbol="BTC/USDT",
                                    strategy="dca", params={"interval_minutes": 1, "order_amount": "10"},
                                    starting_balance=Decimal("1000"), fill_overrides={"reject_rate": "0"}, seed=3,
                                    timeframe=timeframe), actor=owner)


def _tick(at_ms):
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    return tick_run(exchange="binance", tick_key=at_ms, now=at_ms / 1000)


def _last_bar(bot):
    bot.refresh_from_db()
    return bot.state["engine"]["last_bar_ms"]


def test_a_5m_bot_acts_only_on_closed_5m_candles(alice, synthetic, boundary):
    b, minutes = boundary
    five, one = _bot(alice, "5m"), _bot(alice, "1m")
    assert five.timeframe == "5m"

    _tick(b + 4 * M + 30_000)  # inside the 5m candle [b, b+5m): it has not closed
    assert _last_bar(five) == b - 5 * M  # decided on the newest CLOSED 5m candle
    assert _last_bar(one) == b + 3 * M
    assert Fill.objects.filter(bot=five).count() == 1

    summary = _tick(b + 5 * M - 1000)  # later in the same 5m (and 1m) candle: nothing new for either
    assert _last_bar(five) == b - 5 * M and Fill.objects.filter(bot=five).count() == 1
    assert _last_bar(one) == b + 3 * M and summary.evaluated == 0

    _tick(b + 5 * M + 10_000)  # the 5m candle [b, b+5m) has closed
    assert _last_bar(five) == b
    assert _last_bar(one) == b + 4 * M
    assert Fill.objects.filter(bot=five).count() == 2

    _tick(b + 8 * M + 10_000)  # three more minutes: three 1m decisions, still no new 5m candle
    assert _last_bar(five) == b and Fill.objects.filter(bot=five).count() == 2
    assert _last_bar(one) == b + 7 * M


def test_the_5m_candles_are_the_1m_candles_aggregated(alice, synthetic, boundary):
    b, minutes = boundary
    five = _bot(alice, "5m")
    _tick(b + 5 * M + 10_000)
    from trading.services.tick_feeds import feeds_for  # noqa: PLC0415 - read the feed the tick just used

    feed = feeds_for("binance", {("BTC/USDT", "5m"): 50}, (b + 5 * M + 10_000) / 1000)[("BTC/USDT", "5m")]
    expected = aggregate(minutes, 5 * M, before_ms=b + 5 * M)
    assert feed.bars == expected[1:] or feed.bars == expected  # the oldest may be cut by the read limit
    newest = feed.bars[-1]
    assert (newest.ts_ms, newest.open, newest.high, newest.low, newest.close) == (
        b, Decimal(100), Decimal(105), Decimal(99), Decimal("104.5"))
    assert _last_bar(five) == b


def test_timeframes_keep_the_query_count_flat_per_bot(alice, bob, synthetic, boundary):
    b, _ = boundary
    for _ in range(3):
        _bot(alice, "5m")
        _bot(bob, "1m")
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    with CaptureQueriesContext(connection) as few:
        tick_run(exchange="binance", tick_key=b + 5 * M + 10_000, now=(b + 5 * M + 10_000) / 1000)
    for _ in range(6):
        _bot(alice, "5m")
        _bot(bob, "1m")
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    with CaptureQueriesContext(connection) as many:
        tick_run(exchange="binance", tick_key=b + 6 * M + 10_000, now=(b + 6 * M + 10_000) / 1000)
    assert len(many) <= len(few) + 2, (len(few), len(many))
