"""Backtests: results, FIFO trades, statistics, risk checks, and `manage.py backtest`."""

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from risk.checks import Limits
from tests.engine.factories import T0, bars_from_closes, synthetic_bars
from trading.backtest import max_drawdown_pct, performance_stats, run_backtest, trades_from_fills
from trading.engine.types import Fill, FillConfig, MarketRules, ParamError
from trading.engine.wallet import equity
from trading.feeds import read_csv

D = Decimal
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EXACT = FillConfig(reject_rate=D("0"), slippage_min=D("0"), slippage_max=D("0"))


def fill(side, price, amount, fee, ts):
    return Fill(side=side, price=D(price), amount=D(amount), fee=D(fee), fee_currency="USDT", slippage=D(0),
                liquidity="taker", ts_ms=ts)


def test_trades_are_fifo_round_trips_with_their_share_of_both_fees():
    fills = [fill("buy", "100", "2", "0.2", 1), fill("buy", "110", "1", "0.11", 2), fill("sell", "120", "2.5", "0.3", 3)]
    closed, open_lots = trades_from_fills(fills, mark_price=D("130"))
    assert [(t.entry_ms, t.entry_price, t.exit_ms, t.exit_price, t.amount) for t in closed] == [
        (1, D("100"), 3, D("120"), D("2")), (2, D("110"), 3, D("120"), D("0.5"))]
    assert closed[0].fee == D("0.2") + D("0.24") and closed[0].pnl == D("40") - D("0.44")
    assert closed[1].fee == D("0.055") + D("0.06") and closed[1].pnl == D("5") - D("0.115")
    (lot,) = open_lots
    assert lot.amount == D("0.5") and lot.exit_ms is None and lot.pnl == D("10") - D("0.055")


def test_max_drawdown_is_the_worst_fall_from_a_peak():
    curve = [(i, D(v)) for i, v in enumerate(["100", "120", "90", "130", "117"])]
    assert max_drawdown_pct(curve) == D("25")


def test_performance_stats_give_return_win_rate_closed_trades_and_fees():
    fills = [fill("buy", "100", "1", "0.1", 1), fill("sell", "110", "1", "0.11", 2),
             fill("buy", "110", "1", "0.11", 3), fill("sell", "100", "1", "0.1", 4)]
    curve = [(0, D("1000")), (1, D("1009.79")), (2, D("999.58"))]
    s = performance_stats(fills=fills, equity_curve=curve, starting_balance=D("1000"))
    assert s.closed_trades == 2 and s.win_rate == D("50") and s.fees_paid == D("0.42")
    assert s.final_equity == D("999.58") and s.return_pct == D("-0.042")
    assert s.realized_pnl == D("9.79") + D("-10.21")
    assert performance_stats(fills=[], equity_curve=[], starting_balance=D("5")).win_rate is None


def test_a_backtest_buys_on_the_cross_sells_on_the_cross_back_and_reports_the_round_trip():
    closes = [10] * 6 + [11, 12, 13, 14, 14, 13, 12, 11, 10, 9, 9, 9]
    bars = bars_from_closes(closes)
    r = run_backtest(bars, "sma_cross", {"fast": 2, "slow": 5}, D("1000"), MarketRules(), EXACT, seed=0)
    buy, sell = r.fills
    assert buy.side == "buy" and buy.price == bars[7].open and buy.ts_ms == bars[7].ts_ms
    assert sell.side == "sell" and sell.ts_ms > buy.ts_ms
    (trade,) = r.trades
    assert trade.entry_price == buy.price and trade.exit_price == sell.price and trade.amount == buy.amount
    assert trade.fee == buy.fee + sell.fee and trade.pnl == (sell.price - buy.price) * buy.amount - trade.fee
    assert r.closed_trades == 1 and r.win_rate == (100 if trade.pnl > 0 else 0)
    assert r.fees_paid == buy.fee + sell.fee
    assert r.final_equity == equity(r.wallet, bars[-1].close) == r.equity_curve[-1][1]
    assert r.return_pct == (r.final_equity - 1000) / 1000 * 100
    assert r.equity_curve[0] == (bars[0].ts_ms, D("1000")) and len(r.equity_curve) == len(bars) + 1


def test_the_json_result_has_every_field_a_user_needs():
    r = run_backtest(synthetic_bars(300, seed=2), "rsi", {"period": 5}, D("1000"), MarketRules(), FillConfig(), seed=3)
    data = json.loads(json.dumps(r.to_json()))
    for key in ("final_equity", "return_pct", "win_rate", "closed_trades", "max_drawdown_pct", "fees_paid",
                "trades", "equity_curve", "fills", "rejects", "starting_balance"):
        assert key in data
    t = data["trades"][0]
    assert set(t) >= {"entry_time", "exit_time", "entry_price", "exit_price", "amount", "fee", "pnl"}
    assert t["entry_time"].endswith("Z") and D(t["exit_price"]) > 0
    assert data["closed_trades"] == len(data["trades"])


def test_bad_strategy_params_and_balance_are_refused():
    bars = bars_from_closes([1, 2, 3])
    with pytest.raises(ParamError):
        run_backtest(bars, "sma_cross", {"fast": 5, "slow": 2}, D("100"))
    with pytest.raises(ValueError, match="starting balance"):
        run_backtest(bars, "sma_cross", {}, D("0"))


# --- risk checks in the backtest -----------------------------------------------------------------

def test_a_crash_trips_the_daily_loss_breaker_and_the_run_stops_trading():
    closes = [100] * 6 + [101, 102, 103] + [90, 80, 70, 60, 50] + [55, 60, 65, 70, 75, 80, 70, 60]
    bars = bars_from_closes(closes)
    r = run_backtest(bars, "sma_cross", {"fast": 2, "slow": 5}, D("1000"), MarketRules(), EXACT, seed=0,
                     limits=Limits(daily_loss_pct=D("5")))
    assert r.halted["code"] == "daily_loss" and "5%" in r.halted["message"]
    assert all(f.ts_ms <= r.halted["ts_ms"] for f in r.fills)
    free = run_backtest(bars, "sma_cross", {"fast": 2, "slow": 5}, D("1000"), MarketRules(), EXACT, seed=0)
    assert free.halted is None and len(free.fills) > len(r.fills)


def test_orders_past_the_daily_trade_limit_are_refused_with_its_code():
    bars = synthetic_bars(400, seed=4)
    r = run_backtest(bars, "dca", {"interval_minutes": 1, "order_amount": "10", "take_profit_pct": "0"},
                     D("1000"), MarketRules(), EXACT, seed=0, limits=Limits(max_trades_per_day=3, daily_loss_pct=None))
    # the 400 one-minute candles span two UTC days: 3 orders each day, the counter resets at midnight
    per_day = {}
    for f in r.fills:
        per_day[f.ts_ms // 86_400_000] = per_day.get(f.ts_ms // 86_400_000, 0) + 1
    assert list(per_day.values()) == [3, 3] and r.risk_refusals["max_trades_per_day"] > 0
    assert {x.code for x in r.rejects} == {"max_trades_per_day"}


def test_orders_above_the_position_limit_are_refused():
    bars = bars_from_closes([10] * 6 + [11, 12, 13, 14])
    r = run_backtest(bars, "sma_cross", {"fast": 2, "slow": 5}, D("1000"), MarketRules(), EXACT, seed=0,
                     limits=Limits(max_position_quote=D("500")))
    assert r.fills == [] and [x.code for x in r.rejects] == ["max_position"]


# --- manage.py backtest ----------------------------------------------------------------------------

@pytest.fixture
def csv_file(tmp_path):
    bars = synthetic_bars(600, seed=8)
    path = tmp_path / "binance_BTC-USDT_1m.csv"
    lines = ["timestamp_ms,open,high,low,close,volume"]
    lines += [f"{b.ts_ms},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args):
    out = StringIO()
    call_command("backtest", *args, stdout=out)
    return out.getvalue()


BASE = ["--strategy", "sma_cross", "--params", '{"fast": 5, "slow": 20}', "--symbol", "BTC/USDT",
        "--starting-balance", "1000"]


def test_the_command_prints_a_summary(csv_file):
    text = run(*BASE, "--data", str(csv_file), "--seed", "3")
    assert "Backtest sma_cross" in text and "on BTC/USDT" in text and "seed 3" in text
    for label in ("Final equity:", "Return:", "Closed trades:", "Win rate:", "Max drawdown:", "Fees paid:"):
        assert label in text
    assert "USDT" in text


def test_the_command_json_matches_run_backtest_with_the_same_knobs(csv_file):
    data = json.loads(run(*BASE, "--data", str(csv_file), "--seed", "5", "--fee", "0.002", "--slippage-min", "0.0005",
                          "--slippage-max", "0.001", "--reject-rate", "0.1", "--json"))
    cfg = FillConfig(slippage_min=D("0.0005"), slippage_max=D("0.001"), reject_rate=D("0.1"), fallback_fee=D("0.002"))
    rules = MarketRules(maker_fee=D("0.002"), taker_fee=D("0.002"), base_currency="BTC", quote_currency="USDT")
    expected = run_backtest(read_csv(csv_file), "sma_cross", {"fast": 5, "slow": 20}, D("1000"), rules, cfg, 5)
    assert data["final_equity"] == json.loads(json.dumps(expected.to_json()))["final_equity"]
    assert len(data["trades"]) == data["closed_trades"] == expected.closed_trades > 0
    assert data["symbol"] == "BTC/USDT" and data["seed"] == 5
    fees = [D(f["fee"]) / (D(f["price"]) * D(f["amount"])) for f in data["fills"]]
    assert set(fees) == {D("0.002")}
    slips = [D(f["slippage"]) for f in data["fills"]]
    assert all(D("0.0005") <= s <= D("0.001") for s in slips)


def test_the_command_with_risk_checks_says_so(csv_file):
    assert "Risk checks:      on" in run(*BASE, "--data", str(csv_file), "--risk")
    assert "Risk checks:      off" in run(*BASE, "--data", str(csv_file))


@pytest.mark.parametrize("change, message", [
    ({"--strategy": "martingale"}, "Unknown strategy 'martingale'"),
    ({"--params": "{fast: 5}"}, "--params is not valid JSON"),
    ({"--params": "[5, 20]"}, "--params must be a JSON object"),
    ({"--params": '{"fast": 20, "slow": 5}'}, "Invalid --params: fast: must be less than slow"),
    ({"--symbol": "BTCUSDT"}, "--symbol must look like BASE/QUOTE"),
    ({"--symbol": "ETH/BTC"}, "does not match the data file, which holds BTC/USDT"),
    ({"--starting-balance": "-5"}, "--starting-balance must be greater than 0"),
    ({"--starting-balance": "lots"}, "--starting-balance must be a number"),
    ({"--seed": "abc"}, "--seed must be a whole number"),
    ({"--fee": "-0.1"}, "--fee must not be negative"),
    ({"--slippage-min": "0.01", "--slippage-max": "0.001"}, "--slippage-min must not be greater than slippage_max"),
    ({"--reject-rate": "2"}, "--reject-rate must be between 0 and 1"),
    ({"--risk-limits": '{"daily_loss": 3}'}, "unknown limit 'daily_loss'"),
])
def test_bad_arguments_are_a_clear_command_error(csv_file, change, message):
    args = dict(zip(BASE[::2], BASE[1::2], strict=True)) | {"--data": str(csv_file)} | change
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(*[x for kv in args.items() for x in kv])


def test_a_missing_or_broken_data_file_is_a_clear_command_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(*BASE, "--data", str(tmp_path / "nope.csv"))
    broken = tmp_path / "binance_BTC-USDT_1m.csv"
    broken.write_text(f"timestamp_ms,open,high,low,close,volume\n{T0},1,2,0.5,1.5,3\n{T0 + 60000},1,x,1,1,1\n")
    with pytest.raises(CommandError, match="line 3"):
        run(*BASE, "--data", str(broken))
    short = tmp_path / "other.csv"
    short.write_text(f"timestamp_ms,open,high,low,close,volume\n{T0},1,2,0.5,1.5,3\n")
    with pytest.raises(CommandError, match="at least 2 candles"):
        run(*BASE, "--data", str(short))


# --- real recorded data ------------------------------------------------------------------------

REAL = SHARED_DATA / "bittrex_ETH-BTC_5m.csv"


@pytest.mark.skipif(not REAL.exists(), reason=f"recorded candles not present at {REAL} (shared data folder)")
@pytest.mark.parametrize("strategy, params", [
    ("sma_cross", {"fast": 10, "slow": 30}),
    ("rsi", {}),
    ("grid", {"lower": "0.085", "upper": "0.1", "levels": 8, "order_amount": "0.01"}),
    ("dca", {"interval_minutes": 240, "order_amount": "0.01", "take_profit_pct": "2"}),
])
def test_each_strategy_on_recorded_bittrex_candles(strategy, params):
    bars = read_csv(REAL)
    rules = MarketRules(amount_step=D("0.00000001"), price_step=D("0.00000001"), min_cost=D("0.0005"),
                        quote_currency="BTC")
    r = run_backtest(bars, strategy, params, D("0.1"), rules, FillConfig(), seed=1)
    again = run_backtest(bars, strategy, params, D("0.1"), rules, FillConfig(), seed=1)
    assert r.fills == again.fills and r.closed_trades > 0
    assert r.wallet.base >= 0 and r.wallet.quote >= 0
    assert all(t.entry_ms < t.exit_ms for t in r.trades)
    assert all(f.fee > 0 for f in r.fills) and r.fees_paid == sum(f.fee for f in r.fills)
    assert r.final_equity == r.equity_curve[-1][1]
    low, high = min(b.low for b in bars), max(b.high for b in bars)
    assert all(low * D("0.99") <= f.price <= high * D("1.01") for f in r.fills)
