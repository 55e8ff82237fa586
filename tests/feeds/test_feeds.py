"""Ticker validation and the replay / synthetic sources: plain Python, no database."""

from decimal import Decimal
from pathlib import Path

import pytest

from trading.feeds import ReplayFeed, SyntheticFeed, Tick, parse_csv_name, read_csv, validate_ticker

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOD = {"bid": 100.5, "ask": 100.7, "last": 100.6, "timestamp": 1700000000000, "percentage": -1.25,
        "baseVolume": 1234.5}


def test_a_good_ticker_becomes_decimal_prices():
    t = validate_ticker("binance", "BTC/USDT", GOOD, 1.0)
    assert not t.stale and t.bid == Decimal("100.5") and t.ask == Decimal("100.7") and t.last == Decimal("100.6")
    assert t.exchange_ts == 1700000000000 and t.change_24h_pct == Decimal("-1.25")


@pytest.mark.parametrize("change, reason", [
    ({"bid": None}, "bid is missing"),
    ({"ask": float("nan")}, "ask is not finite"),
    ({"last": 0}, "last is not positive"),
    ({"last": -3}, "last is not positive"),
    ({"bid": "abc"}, "bid is not a number"),
    ({"bid": 101, "ask": 100}, "bid is above ask"),
    ({"ask": True}, "ask is missing"),
])
def test_junk_marks_the_ticker_stale_with_a_reason(change, reason):
    t = validate_ticker("binance", "BTC/USDT", {**GOOD, **change}, 1.0)
    assert t.stale and t.reason == reason and t.last is None


def test_a_symbol_missing_from_the_reply_is_stale():
    t = validate_ticker("binance", "BTC/USDT", None, 1.0)
    assert t.stale and "missing" in t.reason


def test_optional_junk_fields_do_not_make_a_good_price_stale():
    t = validate_ticker("binance", "BTC/USDT", {**GOOD, "percentage": None, "baseVolume": "x", "timestamp": None}, 1.0)
    assert not t.stale and t.change_24h_pct is None and t.volume_24h is None and t.exchange_ts is None


def test_ticks_survive_a_json_round_trip_without_losing_precision():
    t = validate_ticker("binance", "BTC/USDT", {**GOOD, "bid": "0.000012345678901234"}, 1.5)
    assert Tick.from_json(t.to_json()) == t
    assert t.to_json()["bid"] == "0.000012345678901234"


def _csv(tmp_path, rows, name="binance_BTC-USDT_1m.csv"):
    path = tmp_path / name
    path.write_text("timestamp_ms,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_replay_plays_recorded_closes_in_order(tmp_path):
    path = _csv(tmp_path, ["60000,10,12,9,11,5", "120000,11,13,10,12.5,6", "180000,12.5,13,12,12.75,1"])
    assert parse_csv_name(path) == ("binance", "BTC/USDT", "1m")
    feed = ReplayFeed("binance", "BTC/USDT", read_csv(path))
    ticks = [feed.tick(step, 0.0) for step in range(3)]
    assert [t.last for t in ticks] == [Decimal("11"), Decimal("12.5"), Decimal("12.75")]
    assert all(t.bid < t.last < t.ask and t.source == "replay" for t in ticks)
    assert ticks[1].exchange_ts == 120000


@pytest.mark.parametrize("rows, message", [
    (["60000,10,12,9,11,5", "60000,10,12,9,11,5"], "line 3: timestamps must increase"),
    (["60000,10,9,9,11,5"], "line 2: inconsistent"),
    (["60000,10,12,9,,5"], "line 2: close is not a number"),
    (["60000,10,12,9,11"], "line 2"),
])
def test_a_bad_csv_row_is_named_by_line(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        read_csv(_csv(tmp_path, rows))


def test_a_badly_named_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected <exchange>_<BASE>-<QUOTE>_<timeframe>.csv"):
        parse_csv_name(tmp_path / "prices.csv")


def test_synthetic_prices_are_reproducible_by_seed():
    a = [SyntheticFeed("binance", "BTC/USDT", seed=7).price(n) for n in range(50)]
    b = [SyntheticFeed("binance", "BTC/USDT", seed=7).price(n) for n in range(50)]
    c = [SyntheticFeed("binance", "BTC/USDT", seed=8).price(n) for n in range(50)]
    assert a == b and a != c
    assert len(set(a)) > 40 and all(p > 0 for p in a)
    feed = SyntheticFeed("binance", "BTC/USDT", seed=7)
    assert feed.next_price(a[9], 10) == a[10]  # step by step equals from scratch


def test_replay_reads_the_recorded_bittrex_data():
    path = SHARED / "bittrex_ETH-BTC_5m.csv"
    if not path.exists():
        pytest.skip("recorded data in ../shared/data is absent (a user's clone)")
    bars = read_csv(path)
    assert parse_csv_name(path) == ("bittrex", "ETH/BTC", "5m")
    assert len(bars) == 5760 and bars[0].ts_ms == 1515560100000
    feed = ReplayFeed("bittrex", "ETH/BTC", bars)
    assert feed.tick(0, 0.0).last == bars[0].close
