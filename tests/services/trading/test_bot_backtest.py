"""A bot's own backtest over stored candles: the same trades as `manage.py backtest` on those candles,
its fill settings, market rules and risk limits applied, range filters, too few candles, nothing written."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.bots_support import recording_bars, write_recording
from trading.backtest import run_backtest
from trading.models import Bot, EquitySnapshot, Fill, Market, Order
from trading.services import backtests
from trading.services.backtests import (
    BadBacktestRange,
    NotEnoughCandles,
    bot_backtest,
    bot_backtest_result,
    equity_downsample,
)
from trading.services.bots import bot_create
from trading.services.candles import candles_store

pytestmark = pytest.mark.django_db

PARAMS = {"fast": 3, "slow": 8}


def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def recording(tmp_path):
    path = write_recording(tmp_path, bars=240)
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=recording_bars(path))
    return path


def make_bot(owner, **kw):
    args = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
            "params": dict(PARAMS), "starting_balance": Decimal("1000"), "seed": 7}
    args.update(kw)
    return bot_create(owner=owner, **args)


def limits_json(bot) -> str:
    from risk.limits import limits_for

    limits = limits_for(bot=bot)
    return json.dumps({k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(limits).items()})


def manage_py_backtest(path, *args) -> dict:
    out = StringIO()
    call_command("backtest", "--strategy", "sma_cross", "--params", json.dumps(PARAMS), "--data", str(path),
                 "--symbol", "BTC/USDT", "--starting-balance", "1000", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


HEADLINE = ["starting_balance", "final_equity", "return_pct", "closed_trades", "win_rate", "max_drawdown_pct",
            "fees_paid", "realized_pnl", "unrealized_pnl", "trades", "open_trades"]


def test_the_bots_backtest_gives_the_same_trades_as_manage_py_backtest_on_the_same_candles(alice, recording,
                                                                                            settings):
    settings.PAPER_FILL_CONFIG = {"reject_rate": "0.3"}  # platform default, overridden per bot below
    bot = make_bot(alice, fill_overrides={"slippage_min": "0.0015", "slippage_max": "0.0025"})
    got = bot_backtest(bot=bot)
    expected = manage_py_backtest(recording, "--seed", "7", "--reject-rate", "0.3", "--slippage-min", "0.0015",
                                  "--slippage-max", "0.0025", "--risk-limits", limits_json(bot))
    assert got["closed_trades"] >= 3, "a wavy recording must give an SMA crossover round trips"
    for key in HEADLINE:
        assert got[key] == expected[key], key
    assert got["fills"] == len(expected["fills"])
    assert got["rejects"] == expected["rejects"] and sum(got["rejects"].values()) > 0  # 30 % rejections seen
    assert got["candles"]["count"] == 240 == expected["bars"]
    assert got["candles"]["first"] == expected["from"] and got["candles"]["last"] == expected["to"]
    assert got["seed"] == 7 and got["strategy"] == "sma_cross" and got["timeframe"] == "1m"
    json.dumps(got)  # JSON-safe as it is

    # another seed or other fill settings change the result: the bot's own settings are what ran
    assert bot_backtest(bot=make_bot(alice, seed=8, fill_overrides={"slippage_min": "0.0015",
                                                                     "slippage_max": "0.0025"}))["trades"] \
        != got["trades"]


def test_the_market_rows_precision_and_fees_are_used_like_the_tick(alice, recording, settings):
    settings.PAPER_FILL_CONFIG = {}
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT",
                          amount_step=Decimal("0.01"), price_step=Decimal("0.01"), maker_fee=Decimal("0.004"),
                          taker_fee=Decimal("0.004"), min_cost=Decimal("5"))
    bot = make_bot(alice)
    got = bot_backtest(bot=bot)
    expected = manage_py_backtest(recording, "--seed", "7", "--fee", "0.004", "--amount-step", "0.01",
                                  "--price-step", "0.01", "--min-cost", "5", "--risk-limits", limits_json(bot))
    for key in HEADLINE:
        assert got[key] == expected[key], key
    assert got["trades"], "round trips expected"
    for t in got["trades"]:
        assert Decimal(t["amount"]) == Decimal(t["amount"]).quantize(Decimal("0.01"))  # the market's amount step
    fee = sum(Decimal(t["fee"]) for t in got["trades"] + got["open_trades"])
    assert fee == Decimal(got["fees_paid"])
    # 0.4 % per side: a round trip pays about 0.8 % of its notional
    first = got["trades"][0]
    notional = Decimal(first["amount"]) * (Decimal(first["entry_price"]) + Decimal(first["exit_price"]))
    assert abs(Decimal(first["fee"]) - notional * Decimal("0.004")) < Decimal("0.0000001")


def test_a_range_replays_only_the_candles_inside_it(alice, recording):
    bars = recording_bars(recording)
    bot = make_bot(alice)
    window = bars[40:200]
    got = bot_backtest(bot=bot, start=dt(window[0].ts_ms), end=dt(window[-1].ts_ms))
    assert got["candles"]["count"] == 160
    assert got["candles"]["first_ts_ms"] == window[0].ts_ms and got["candles"]["last_ts_ms"] == window[-1].ts_ms
    from risk.limits import limits_for

    ref = run_backtest(window, "sma_cross", bot.params, Decimal("1000"),
                       rules=backtests.market_rules(exchange="binance", symbol="BTC/USDT"),
                       cfg=backtests.fill_config_for(bot.fill_overrides), seed=7, limits=limits_for(bot=bot))
    assert got["trades"] == ref.stats.to_json()["trades"] and got["final_equity"] == ref.stats.to_json()["final_equity"]
    assert got["trades"] != bot_backtest(bot=bot)["trades"]  # the whole recording trades differently

    only_start = bot_backtest(bot=bot, start=dt(bars[200].ts_ms))
    assert only_start["candles"]["count"] == 40 and only_start["candles"]["first_ts_ms"] == bars[200].ts_ms
    only_end = bot_backtest(bot=bot, end=dt(bars[99].ts_ms))
    assert only_end["candles"]["count"] == 100 and only_end["candles"]["last_ts_ms"] == bars[99].ts_ms
    naive = bot_backtest(bot=bot, end=dt(bars[99].ts_ms).replace(tzinfo=None))  # naive = UTC
    assert naive["candles"] == only_end["candles"]
    newest = bot_backtest(bot=bot, bars=50)
    assert newest["candles"]["count"] == 50 and newest["candles"]["last_ts_ms"] == bars[-1].ts_ms


def test_bad_ranges_are_refused_with_a_clear_message(alice, recording):
    bot = make_bot(alice)
    t = dt(recording_bars(recording)[100].ts_ms)
    with pytest.raises(BadBacktestRange, match="start must be before the end"):
        bot_backtest(bot=bot, start=t, end=t)
    with pytest.raises(BadBacktestRange, match="Unknown timeframe"):
        bot_backtest(bot=bot, timeframe="7m")


def test_too_few_candles_says_how_many_the_strategy_needs(alice, recording):
    bars = recording_bars(recording)
    bot = make_bot(alice, params={"fast": 5, "slow": 30})
    with pytest.raises(NotEnoughCandles) as exc:
        bot_backtest(bot=bot, start=dt(bars[0].ts_ms), end=dt(bars[30].ts_ms))  # 31 candles
    msg = exc.value.message
    assert "Only 31 1m candles" in msg and "at least 32" in msg and "slow+1 = 31" in msg
    assert exc.value.code == "not_enough_candles" and exc.value.status == 400
    assert bot_backtest(bot=bot, start=dt(bars[0].ts_ms), end=dt(bars[31].ts_ms))["candles"]["count"] == 32

    with pytest.raises(NotEnoughCandles, match=r"Only 0 5m candles.*1m \(240\)"):
        bot_backtest(bot=bot, timeframe="5m")  # nothing stored for 5m: the message lists what is stored
    rsi = make_bot(alice, strategy="rsi", params={"period": 50})
    with pytest.raises(NotEnoughCandles, match="at least 52"):
        bot_backtest(bot=rsi, bars=51)


def test_the_window_is_capped(alice, recording, monkeypatch):
    bars = recording_bars(recording)
    monkeypatch.setattr(backtests, "BACKTEST_MAX_BARS", 100)
    bot = make_bot(alice)
    newest = bot_backtest(bot=bot)
    assert newest["candles"]["count"] == 100 and newest["candles"]["last_ts_ms"] == bars[-1].ts_ms
    from_start = bot_backtest(bot=bot, start=dt(bars[10].ts_ms))
    assert from_start["candles"]["count"] == 100 and from_start["candles"]["first_ts_ms"] == bars[10].ts_ms
    with pytest.raises(BadBacktestRange, match="holds 201 1m candles; a backtest replays at most 100"):
        bot_backtest(bot=bot, start=dt(bars[0].ts_ms), end=dt(bars[200].ts_ms))


def test_it_writes_nothing_and_never_reads_keys(alice, recording):
    bot = make_bot(alice)
    before = Bot.objects.filter(pk=bot.pk).values().get()
    with CaptureQueriesContext(connection) as queries:
        result = bot_backtest_result(bot=bot)
    assert result.fills
    sql = [q["sql"].lower() for q in queries.captured_queries]
    assert not [s for s in sql if s.lstrip().startswith(("insert", "update", "delete"))]
    assert not [s for s in sql if "keys_" in s]
    assert Order.objects.count() == Fill.objects.count() == EquitySnapshot.objects.count() == 0
    assert Bot.objects.filter(pk=bot.pk).values().get() == before


def test_the_chart_curve_is_downsampled_keeping_peaks_and_troughs():
    curve = [(i * 60_000, Decimal(1000 + (i % 97) - (300 if i == 4321 else 0))) for i in range(20_000)]
    small = equity_downsample(curve)
    assert len(small) <= 1000
    assert small[0] == curve[0] and small[-1] == curve[-1]
    assert [p[0] for p in small] == sorted(p[0] for p in small)
    assert min(v for _, v in small) == min(v for _, v in curve)  # the deepest drawdown survives
    assert max(v for _, v in small) == max(v for _, v in curve)
    assert equity_downsample(curve[:500]) == curve[:500]


def test_a_long_run_sends_at_most_1000_chart_points(alice, tmp_path):
    path = write_recording(tmp_path, bars=3000)
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=recording_bars(path))
    got = bot_backtest(bot=make_bot(alice))
    assert got["candles"]["count"] == 3000 and got["equity_points"] == 3001
    assert len(got["equity_curve"]) <= 1000
    assert got["equity_curve"][0]["equity"] == "1000" and got["equity_curve"][-1]["equity"] == got["final_equity"]


def test_the_backtest_of_a_bot_repeats_its_own_paper_trading_on_the_same_candles(alice, settings, tmp_path):
    """Paper/backtest parity from the page's side: a bot paper-trades the replay feed; its backtest over the
    same candles (imported into the database) gives exactly its fills."""
    from decimal import ROUND_HALF_UP

    from tests.bots_support import poll_and_tick, use_replay
    from trading.services.bots import bot_start

    path = write_recording(tmp_path, bars=120)
    use_replay(settings, tmp_path)
    bars = recording_bars(path)
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=bars)
    bot = bot_start(bot=make_bot(alice, seed=4242), actor=alice)
    for _ in range(len(bars) + 2):
        poll_and_tick()
    paper = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
             for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
    assert len(paper) >= 4

    def db(v: Decimal) -> Decimal:  # numeric(38, 18) as PostgreSQL rounds it
        return v.quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)

    result = bot_backtest_result(bot=bot)
    assert [(f.side, db(f.price), db(f.amount), db(f.fee), f.ts_ms) for f in result.fills] == paper
    assert len(result.rejects) == Order.objects.filter(bot=bot, status="rejected").count()
