"""evaluate(): the one step paper trading and the backtest share."""

import json
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.checks import Decision
from tests.engine.factories import bar, bars_from_closes, synthetic_bars
from trading.backtest import run_backtest
from trading.engine.fills import fill_market
from trading.engine.runner import evaluate
from trading.engine.strategies import STRATEGIES
from trading.engine.strategies.base import Strategy
from trading.engine.types import FillConfig, Intent, Market, MarketRules, RestingOrder, Wallet

D = Decimal
RULES = MarketRules(amount_step=D("0.0001"), price_step=D("0.01"), quote_currency="USDT")
NO_REJECTS = FillConfig(reject_rate=D("0"))


class Scripted(Strategy):
    """Test double: returns the intents queued in `script` for the newest candle, records what it saw."""

    id = "test_scripted"
    name = description = "scripted"
    params_schema = {}
    script: dict = {}
    seen: list = []

    def decide(self, ctx):
        self.seen.append({"n": len(ctx.closed_bars), "last_ts": ctx.closed_bars[-1].ts_ms, "fills": list(ctx.fills),
                          "avg": ctx.position_avg_price})
        return list(self.script.get(ctx.closed_bars[-1].ts_ms, []))


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(STRATEGIES, Scripted.id, Scripted)
    monkeypatch.setattr(Scripted, "script", {})
    monkeypatch.setattr(Scripted, "seen", [])
    return Scripted


def step(bars, n, *, strategy="test_scripted", params=None, state=None, wallet=None, open_orders=(), cfg=NO_REJECTS,
         seed=7, gate=None, market=None):
    return evaluate(strategy_id=strategy, params=params or {}, state=state, closed_bars=bars[:n],
                    market=market or Market(next_open=bars[n].open if n < len(bars) else None,
                                            ts_ms=bars[n].ts_ms if n < len(bars) else None),
                    wallet=wallet or Wallet(quote=D("1000")), open_orders=list(open_orders), rules=RULES, cfg=cfg,
                    seed=seed, step_key=bars[n - 1].ts_ms, gate=gate)


def test_a_market_intent_fills_at_the_next_open_with_an_order_id_from_the_step(scripted):
    bars = bars_from_closes([100, 101, 102])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", quote_amount=D("500"), reason="go")]
    r = step(bars, 2)
    (fill,) = r.fills
    assert fill.reference_price == bars[2].open and fill.ts_ms == bars[2].ts_ms
    assert fill.order_id == f"{bars[1].ts_ms}:0" and fill.reason == "go"
    assert r.wallet.base == fill.amount and r.wallet.quote == D("1000") - fill.cost - fill.fee
    assert r.evaluated and json.loads(json.dumps(r.state)) == r.state


def test_the_strategy_sees_closed_candles_only_and_the_same_candle_is_never_evaluated_twice(scripted):
    bars = bars_from_closes([100, 101, 102, 103])
    r1 = step(bars, 2)
    assert scripted.seen == [{"n": 2, "last_ts": bars[1].ts_ms, "fills": [], "avg": None}]
    # a second tick before the next candle closes: nothing happens, nothing is decided
    again = step(bars, 2, state=r1.state, market=Market(next_open=D("1"), ts_ms=bars[2].ts_ms + 30_000))
    assert not again.evaluated and again.fills == [] and len(scripted.seen) == 1
    step(bars, 3, state=r1.state)
    assert scripted.seen[-1]["n"] == 3


def test_the_decision_does_not_depend_on_the_price_it_will_fill_at():
    bars = synthetic_bars(80, seed=3)
    a = step(bars, 60, strategy="rsi", params={"period": 5, "oversold": 45, "overbought": 55})
    b = step(bars, 60, strategy="rsi", params={"period": 5, "oversold": 45, "overbought": 55},
             market=Market(next_open=bars[60].open * 2, ts_ms=bars[60].ts_ms))
    assert [f.side for f in a.fills] == [f.side for f in b.fills]


def test_each_order_gets_its_own_rng_from_seed_step_and_position(scripted):
    bars = bars_from_closes([100, 100, 100])
    intents = [Intent("buy", "market", amount=D("1")), Intent("buy", "market", amount=D("2"))]
    scripted.script[bars[1].ts_ms] = intents
    r = step(bars, 2, cfg=FillConfig(), seed=42)
    key = bars[1].ts_ms
    for n, fill in enumerate(r.fills):
        expected = fill_market(intents[n], Wallet(quote=D("100000")), quote=None, book=None, next_open=bars[2].open,
                               rules=RULES, cfg=FillConfig(), rng=random.Random(f"42:{key}:{n}"))
        assert fill.price == expected.price


def test_same_data_and_seed_give_the_same_fills_and_another_seed_other_prices():
    bars = synthetic_bars(300, seed=5)
    params = {"fast": 3, "slow": 8}
    a = run_backtest(bars, "sma_cross", params, D("1000"), RULES, FillConfig(), seed=1)
    b = run_backtest(bars, "sma_cross", params, D("1000"), RULES, FillConfig(), seed=1)
    c = run_backtest(bars, "sma_cross", params, D("1000"), RULES, FillConfig(), seed=2)
    assert a.fills == b.fills and len(a.fills) > 10
    assert [f.price for f in a.fills] != [f.price for f in c.fills]


def test_a_resting_limit_fills_partially_over_several_candles_as_volume_allows(scripted):
    # buy 3 @ 95; each candle trades 95 -> 94 range 94..96, volume 2: half of it (1.0) below 95
    bars = [bar(0, 100, 100, 99, 100), bar(1, 100, 100, 99, 100)] + [bar(i, 96, 96, 94, 95, 2) for i in range(2, 7)]
    scripted.script[bars[1].ts_ms] = [Intent("buy", "limit", amount=D("3"), price=D("95"), client_tag="t")]
    r = step(bars, 2)
    (order,) = r.new_orders
    assert r.fills == [] and r.open_orders == [order] and order.id == f"{bars[1].ts_ms}:0"
    assert r.wallet.quote_reserved == D("285") * D("1.001") and r.wallet.free_quote == D("1000") - D("285.285")
    state, wallet, oo = r.state, r.wallet, r.open_orders
    filled = []
    for n in range(3, 6):
        r = step(bars, n, state=state, wallet=wallet, open_orders=oo)
        state, wallet, oo = r.state, r.wallet, r.open_orders
        filled += r.fills
    assert [f.amount for f in filled] == [D("1"), D("1"), D("1")]
    assert all(f.price == D("95") and f.liquidity == "maker" and f.fee == D("0.095") for f in filled)
    assert oo == [] and wallet.base == D("3") and wallet.quote == D("1000") - D("285.285")
    assert wallet.quote_reserved == 0
    # the strategy is told about its fills on its next decision
    assert [f.order_id for f in scripted.seen[-1]["fills"]] == [order.id]


def test_a_resting_order_is_matched_against_every_candle_a_tick_missed(scripted):
    bars = [bar(0, 100, 100, 99, 100), bar(1, 100, 100, 99, 100)] + [bar(i, 96, 96, 94, 95, 2) for i in range(2, 7)]
    scripted.script[bars[1].ts_ms] = [Intent("buy", "limit", amount=D("3"), price=D("95"))]
    r = step(bars, 2)
    r = step(bars, 5, state=r.state, wallet=r.wallet, open_orders=r.open_orders)  # candles 2, 3, 4 at once
    assert sum(f.amount for f in r.fills) == D("3") and r.open_orders == []


def test_one_candles_volume_is_shared_by_the_bots_orders(scripted):
    bars = [bar(0, 100, 100, 99, 100), bar(1, 100, 100, 99, 100), bar(2, 96, 96, 94, 95, 2)]
    scripted.script[bars[1].ts_ms] = [Intent("buy", "limit", amount=D("3"), price=D("95")),
                                      Intent("buy", "limit", amount=D("3"), price=D("95"))]
    r = step(bars, 2)
    r = step(bars, 3, state=r.state, wallet=r.wallet, open_orders=r.open_orders)
    assert sum(f.amount for f in r.fills) == D("1")


def test_a_gate_refusal_becomes_a_reject_with_its_code_and_nothing_is_filled(scripted):
    bars = bars_from_closes([100, 100, 100])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", quote_amount=D("100"))]
    seen = []

    def gate(req):
        seen.append(req)
        return Decision(False, "max_position", "Position would be too big")

    r = step(bars, 2, gate=gate)
    assert r.fills == [] and [(x.code, x.message) for x in r.rejects] == [("max_position", "Position would be too big")]
    assert r.wallet == Wallet(quote=D("1000"))
    (req,) = seen
    # the gate sees the worst price the order can fill at (maximum slippage), not the hopeful one
    assert req.side == "buy" and req.price == bars[2].open * D("1.002") and not req.reduces_position
    assert req.amount * req.price * D("1.001") <= D("100") and req.amount > D("0.99")


def test_the_gate_price_is_never_better_than_the_fill(scripted):
    bars = bars_from_closes([100, 100, 100])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", amount=D("1")), Intent("sell", "limit", amount=D("0.5"),
                                                                                      price=D("120"))]
    seen = []
    r = step(bars, 2, gate=lambda req: seen.append(req), cfg=FillConfig(reject_rate=D("0")))
    (fill,) = r.fills
    assert seen[0].price >= fill.price and seen[0].amount == fill.amount == D("1")
    assert (seen[1].price, seen[1].amount, seen[1].reduces_position) == (D("120"), D("0.5"), True)


def test_a_cancel_intent_releases_the_reservation(scripted):
    bars = bars_from_closes([100, 100, 100, 100])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "limit", amount=D("1"), price=D("90"))]
    r = step(bars, 2)
    oid = r.open_orders[0].id
    scripted.script[bars[2].ts_ms] = [Intent("buy", "cancel", order_id=oid), Intent("buy", "cancel", order_id="nope")]
    r = step(bars, 3, state=r.state, wallet=r.wallet, open_orders=r.open_orders)
    assert r.cancelled == [oid] and r.open_orders == [] and r.wallet.quote_reserved == 0
    assert [x.code for x in r.rejects] == ["unknown_order"]


def test_a_resting_order_the_wallet_no_longer_backs_is_dropped_not_filled(scripted):
    bars = [bar(0, 100, 100, 99, 100), bar(1, 100, 106, 99, 105)]
    order = RestingOrder(id="x", side="sell", price=D("101"), amount=D("1"), fee_rate=D("0.001"))
    r = step(bars, 2, wallet=Wallet(quote=D("10")), open_orders=[order],
             state={"engine": {"last_bar_ms": bars[0].ts_ms}})
    assert r.fills == [] and r.cancelled == ["x"] and r.rejects[0].code == "insufficient_funds"
    assert r.wallet.base == 0 and r.wallet.quote == D("10")


def test_the_position_average_price_is_kept_across_steps(scripted):
    bars = bars_from_closes([100, 100, 110, 110, 110])
    cfg = FillConfig(reject_rate=D("0"), slippage_min=D("0"), slippage_max=D("0"))
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", amount=D("1"))]
    scripted.script[bars[2].ts_ms] = [Intent("buy", "market", amount=D("1"))]
    state, wallet = None, None
    for n in (2, 3, 4):
        r = step(bars, n, state=state, wallet=wallet, cfg=cfg)
        state, wallet = r.state, r.wallet
    assert scripted.seen[-1]["avg"] == D("105")


def test_unknown_strategy_or_bad_params_raise_param_errors():
    from trading.engine.types import ParamError

    bars = bars_from_closes([1, 2, 3])
    with pytest.raises(ParamError):
        step(bars, 2, strategy="nope")
    with pytest.raises(ParamError):
        step(bars, 2, strategy="sma_cross", params={"fast": 9, "slow": 3})


@pytest.mark.parametrize("strategy, params", [
    ("sma_cross", {"fast": 3, "slow": 9}),
    ("rsi", {"period": 6, "oversold": 40, "overbought": 60, "size_pct": 50}),
    ("grid", {"lower": "90", "upper": "110", "levels": 9, "order_amount": "100"}),
    ("dca", {"interval_minutes": 15, "order_amount": "50", "take_profit_pct": "1"}),
])
def test_paper_replay_with_persisted_state_matches_the_backtest_exactly(strategy, params):
    """The paper tick persists everything as JSON between ticks; the fills must still equal the backtest's."""
    bars = synthetic_bars(400, seed=11)
    bt = run_backtest(bars, strategy, params, D("1000"), RULES, FillConfig(), seed=9)
    state, wallet, orders, fills = {}, {"base": "0", "quote": "1000"}, [], []
    for n in range(1, len(bars)):
        r = evaluate(strategy_id=strategy, params=params, state=json.loads(json.dumps(state)),
                     closed_bars=bars[:n], market=Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms),
                     wallet=Wallet.from_json(wallet), open_orders=[RestingOrder.from_json(o) for o in orders],
                     rules=RULES, cfg=FillConfig(), seed=9, step_key=bars[n - 1].ts_ms)
        state, wallet, orders = r.state, r.wallet.to_json(), [o.to_json() for o in r.open_orders]
        fills += r.fills
    assert fills == bt.fills and len(fills) >= 4
    assert Wallet.from_json(wallet).quote == bt.wallet.quote



# --- property: whole runs through evaluate() ------------------------------------------------------

strategy_params = st.sampled_from([
    ("sma_cross", {"fast": 2, "slow": 5}),
    ("sma_cross", {"fast": 3, "slow": 7, "size_pct": "60"}),
    ("rsi", {"period": 4, "oversold": 45, "overbought": 55}),
    ("grid", {"lower": "94", "upper": "106", "levels": 7, "order_amount": "150"}),
    ("grid", {"lower": "97", "upper": "103", "levels": 13, "order_amount": "400"}),
    ("dca", {"interval_minutes": 3, "order_amount": "120", "take_profit_pct": "0.3"}),
])


@settings(max_examples=40, deadline=None)
@given(strategy_params, st.integers(0, 10**6), st.integers(0, 10**6),
       st.sampled_from([MarketRules(), RULES, MarketRules(amount_step=D("0.01"), min_cost=D("20"))]),
       st.sampled_from(["0.01", "5", "0"]))
def test_no_run_makes_the_wallet_negative_and_every_fill_pays_its_fee(sp, data_seed, seed, rules, volume):
    strategy, params = sp
    bars = synthetic_bars(150, seed=data_seed, volume=volume)
    state, wallet, orders = {}, Wallet(quote=D("1000")), []
    for n in range(1, len(bars)):
        r = evaluate(strategy_id=strategy, params=params, state=state, closed_bars=bars[:n],
                     market=Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms), wallet=wallet, open_orders=orders,
                     rules=rules, cfg=FillConfig(reject_rate=D("0.2")), seed=seed, step_key=bars[n - 1].ts_ms)
        state, wallet, orders = r.state, r.wallet, r.open_orders
        assert wallet.base >= 0 and wallet.quote >= 0 and wallet.free_base >= 0 and wallet.free_quote >= 0
        assert all(f.fee > 0 and f.fee == f.price * f.amount * D("0.001") for f in r.fills)
        assert all(o.remaining > 0 for o in orders)


def test_the_engine_backtest_and_risk_checks_import_no_django():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, trading.engine.runner, trading.engine.strategies, trading.backtest, risk.checks; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env={"PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
