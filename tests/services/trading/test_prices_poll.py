"""The poll on the replay and synthetic sources; the ccxt source is tested against the emulator."""

import logging
from decimal import Decimal

import pytest

from config.redis import get_redis
from trading.models import Candle
from trading.price_selectors import tickers_latest
from trading.services.prices import LOCK_KEY, prices_poll

pytestmark = pytest.mark.django_db


@pytest.fixture
def replay(settings, tmp_path):
    settings.MARKET_DATA_SOURCE = "replay"
    settings.MARKET_DATA_REPLAY_PATH = str(tmp_path)
    (tmp_path / "binance_BTC-USDT_1m.csv").write_text(
        "timestamp_ms,open,high,low,close,volume\n60000,10,12,9,11,5\n120000,11,13,10,12.5,6\n180000,12,13,11,11.5,2\n")
    from trading import price_selectors as prices
    prices._replay_cache.clear()
    return tmp_path


def test_replay_moves_one_recorded_candle_per_poll(replay):
    lasts = [prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0].last for _ in range(3)]
    assert lasts == [Decimal("11"), Decimal("12.5"), Decimal("11.5")]
    stored = tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"]
    assert stored.last == Decimal("11.5") and stored.source == "replay" and not stored.stale


def test_a_symbol_without_recorded_data_is_stale_not_an_error(replay):
    result = prices_poll(exchange="binance", symbols={"BTC/USDT", "ETH/USDT"})
    eth = next(t for t in result.ticks if t.symbol == "ETH/USDT")
    assert eth.stale and eth.reason == "no recorded data for this symbol"


def test_each_good_tick_folds_into_its_one_minute_candle(settings):
    settings.MARKET_DATA_SOURCE = "synthetic"
    ticks = [prices_poll(exchange="binance", symbols={"BTC/USDT"}).ticks[0] for _ in range(5)]
    candles = list(Candle.objects.filter(symbol="BTC/USDT", timeframe="1m").order_by("ts"))
    assert 1 <= len(candles) <= 2  # five quick polls land in one minute (or straddle two)
    by_minute = {}
    for t in ticks:
        by_minute.setdefault(int(t.received_at // 60), []).append(t.last)
    for candle in candles:
        lasts = by_minute[int(candle.ts.timestamp() // 60)]
        assert candle.open == lasts[0] and candle.close == lasts[-1]
        assert candle.high == max(lasts) and candle.low == min(lasts)


def test_overlapping_polls_of_one_exchange_never_run_at_once(settings):
    settings.MARKET_DATA_SOURCE = "synthetic"
    get_redis().set(LOCK_KEY.format(exchange="binance"), "someone-else", px=5000)
    assert prices_poll(exchange="binance", symbols={"BTC/USDT"}).skipped is True
    get_redis().delete(LOCK_KEY.format(exchange="binance"))
    assert prices_poll(exchange="binance", symbols={"BTC/USDT"}).skipped is False


def test_staleness_is_logged_when_it_starts_and_ends_not_on_every_tick(replay, caplog):
    caplog.set_level(logging.INFO, logger="trading.services.prices")
    for _ in range(4):
        prices_poll(exchange="binance", symbols={"ETH/USDT"})
    stale_lines = [r for r in caplog.records if "stale" in r.getMessage()]
    assert len(stale_lines) == 1 and "no recorded data" in stale_lines[0].getMessage()
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    assert any("fresh again" in r.getMessage() for r in caplog.records)
