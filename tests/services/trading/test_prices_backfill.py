"""After an outage the poller fetches the 1m candles no poll saw, so the tick catches up what its bots missed.

With Redis down for several minutes beat's polls are lost: no poll, no candle for those minutes, and the
tick (which catches up only from stored candles, BOT_TICK_CATCHUP_BARS) would go on from the newest one as
if nothing had been missed. Expected (ccxt source, here the real ccxt client against the Binance emulator):
the first poll after the outage stores the exchange's own closed candles from the newest stored one (which
the polls saw only part of) to the previous minute, at most PRICE_BACKFILL_BARS back, with one OHLCV
request; the next tick evaluates every missed candle once, oldest first; a failed fetch is tried again on
the next poll and never breaks the poll.
"""

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.emulator.fixtures import *  # noqa: F403
from trading.feeds import Bar
from trading.models import Bot, Candle, EquitySnapshot
from trading.services import tick_feeds
from trading.services.bots import bot_create, bot_start
from trading.services.candles import candles_backfill, candles_store
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db
MIN = 60_000
SYMBOL = "BTC/USDT"


@pytest.fixture
def live(settings, binance_markets):
    settings.MARKET_DATA_SOURCE = "ccxt"
    settings.DEFAULT_WATCHLIST = []
    settings.PRICE_BACKFILL_BARS = 60
    settings.BOT_TICK_CATCHUP_BARS = 10
    tick_feeds._candle_cache.clear()  # closed candles are cached per minute in the process
    deadline = time.monotonic() + 10
    while time.time() % 60 > 50:  # the steps below must fall in one minute: not in its last seconds
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return binance_markets


def _minute() -> int:
    return int(time.time() // 60) * MIN


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _stored(since_ms: int) -> list[int]:
    return [int(ts.timestamp() * 1000) for ts in Candle.objects.filter(
        exchange="binance", symbol=SYMBOL, timeframe="1m", ts__gte=_dt(since_ms)).order_by("ts").values_list(
        "ts", flat=True)]


def _klines(emu) -> list:
    return [h for h in emu.requests if h.path == "/api/v3/klines"]


def _before_the_outage(minute: int) -> None:
    """Polls ran until minute-6 began: closed candles to minute-7, and minute-6 seen by one poll only."""
    candles_backfill(exchange="binance", symbol=SYMBOL, since_ms=minute - 30 * MIN, until_ms=minute - 6 * MIN)
    candles_store(exchange="binance", symbol=SYMBOL, timeframe="1m", bars=[
        Bar(minute - 6 * MIN, Decimal("1"), Decimal("1"), Decimal("1"), Decimal("1"), Decimal("0"))])


def _bot_that_evaluated_until_the_outage(owner, settings, minute: int) -> Bot:
    bot = bot_start(bot=bot_create(owner=owner, name="dca", exchange="binance", symbol=SYMBOL, strategy="dca",
                                   params={"interval_minutes": 1, "order_amount": "20"},
                                   starting_balance=Decimal("1000"), fill_overrides={"reject_rate": "0"}, seed=5),
                    actor=owner)
    Bot.objects.filter(pk=bot.pk).update(started_at=_dt(minute - 30 * MIN))
    backfill, settings.PRICE_BACKFILL_BARS = settings.PRICE_BACKFILL_BARS, 0
    prices_poll(exchange="binance", symbols={SYMBOL})  # a fresh ticker for the tick below
    settings.PRICE_BACKFILL_BARS = backfill
    last_tick = (minute - 6 * MIN) + 20_000  # the last tick before the outage, during minute-6
    tick_run(exchange="binance", tick_key=last_tick, now=last_tick / 1000)
    bot.refresh_from_db()
    assert bot.state["engine"]["last_bar_ms"] == minute - 7 * MIN
    tick_feeds._candle_cache.clear()
    return bot


def test_the_first_poll_after_an_outage_fetches_the_candles_no_poll_saw_and_the_tick_catches_them_up(
        alice, settings, live):
    minute = _minute()
    _before_the_outage(minute)
    bot = _bot_that_evaluated_until_the_outage(alice, settings, minute)
    assert minute - 5 * MIN not in _stored(minute - 30 * MIN)  # minutes -5 .. -1: no poll at all
    requests = len(_klines(live))

    result = prices_poll(exchange="binance", symbols={SYMBOL})  # the first poll after the outage
    assert not result.ticks[0].stale
    closed = [t for t in _stored(minute - 30 * MIN) if t < minute]
    assert closed == list(range(minute - 30 * MIN, minute, MIN))  # no hole left
    assert len(_klines(live)) == requests + 1  # one OHLCV request
    assert f"startTime={minute - 6 * MIN}" in _klines(live)[-1].query  # from the newest stored candle
    partial = Candle.objects.get(exchange="binance", symbol=SYMBOL, timeframe="1m", ts=_dt(minute - 6 * MIN))
    assert partial.volume > 0 and partial.close != Decimal("1")  # the exchange's candle, not one poll's

    summary = tick_run(exchange="binance", tick_key=int(result.ticks[0].received_at * 1000))
    assert summary.notes.get("caught up (missed bars evaluated)") == 5  # minutes -6 .. -2, oldest first
    assert summary.evaluated == 1  # then the newest, minute -1
    bot.refresh_from_db()
    assert bot.state["engine"]["last_bar_ms"] == minute - MIN
    points = [int(ts.timestamp() * 1000) for ts in EquitySnapshot.objects.filter(bot=bot).values_list("ts", flat=True)]
    assert len(points) == len(set(points))

    prices_poll(exchange="binance", symbols={SYMBOL})  # the same minute again: nothing missing, no request
    assert len(_klines(live)) == requests + 1


def test_without_the_backfill_the_missed_candles_are_never_evaluated(alice, settings, live):
    """What the backfill fixes: the tick can only catch up candles that are stored."""
    minute = _minute()
    _before_the_outage(minute)
    bot = _bot_that_evaluated_until_the_outage(alice, settings, minute)
    settings.PRICE_BACKFILL_BARS = 0
    result = prices_poll(exchange="binance", symbols={SYMBOL})
    summary = tick_run(exchange="binance", tick_key=int(result.ticks[0].received_at * 1000))
    assert "caught up (missed bars evaluated)" not in summary.notes
    bot.refresh_from_db()
    assert bot.state["engine"]["last_bar_ms"] == minute - 6 * MIN  # minutes -5 .. -1 lost for good


def test_the_backfill_is_bounded_and_a_failed_fetch_is_tried_again_on_the_next_poll(alice, settings, live):
    minute = _minute()
    settings.PRICE_BACKFILL_BARS = 20
    candles_store(exchange="binance", symbol=SYMBOL, timeframe="1m", bars=[
        Bar(minute - 300 * MIN, Decimal("1"), Decimal("1"), Decimal("1"), Decimal("1"), Decimal("0"))])
    live.fail("server_error", path="/api/v3/klines", times=1)

    first = prices_poll(exchange="binance", symbols={SYMBOL})  # the exchange's candles fail: the poll does not
    assert not first.ticks[0].stale
    assert [t for t in _stored(minute - 299 * MIN) if t < minute] == []
    prices_poll(exchange="binance", symbols={SYMBOL})  # tried again
    assert [t for t in _stored(minute - 299 * MIN) if t < minute] == list(range(minute - 20 * MIN, minute, MIN))
    assert len(_klines(live)) == 2


def test_a_symbol_without_any_stored_candle_is_not_backfilled(settings, live):
    prices_poll(exchange="binance", symbols={SYMBOL})
    assert not _klines(live)
    assert [t for t in _stored(0) if t < _minute()] == []
