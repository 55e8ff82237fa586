"""plan(): the decision alone (intents named by their client order ids), separate from the paper fill."""

from decimal import Decimal

import pytest

from tests.engine.factories import bars_from_closes, synthetic_bars
from tests.engine.test_runner import RULES, Scripted
from trading.engine.runner import evaluate, plan
from trading.engine.strategies import STRATEGIES
from trading.engine.types import Fill, FillConfig, Intent, Market, Wallet

D = Decimal


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(STRATEGIES, Scripted.id, Scripted)
    monkeypatch.setattr(Scripted, "script", {})
    monkeypatch.setattr(Scripted, "seen", [])
    return Scripted


def _plan(bars, n, **kw):
    args = {"strategy_id": "test_scripted", "params": {}, "state": None, "closed_bars": bars[:n],
            "wallet": Wallet(quote=D("1000")), "open_orders": [], "rules": RULES, "step_key": bars[n - 1].ts_ms}
    return plan(**{**args, **kw})


def test_a_plan_names_each_intent_of_the_step_and_fills_nothing(scripted):
    bars = bars_from_closes([100, 101, 102])
    buy, sell = Intent("buy", "market", quote_amount=D("100")), Intent("sell", "limit", amount=D("1"), price=D("150"))
    scripted.script[bars[1].ts_ms] = [buy, sell]
    p = _plan(bars, 2)
    assert p.evaluated
    assert [(o.n, o.client_order_id, o.intent) for o in p.orders] == [
        (0, f"{bars[1].ts_ms}:0", buy), (1, f"{bars[1].ts_ms}:1", sell)]
    assert p.state["engine"]["last_bar_ms"] == bars[1].ts_ms


def test_a_retried_decision_carries_the_same_client_order_ids(scripted):
    bars = bars_from_closes([100, 101, 102])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", quote_amount=D("100"))]
    first = _plan(bars, 2, bot_id=42)
    again = _plan(bars, 2, bot_id=42)
    other_bot = _plan(bars, 2, bot_id=43)
    assert [o.client_order_id for o in first.orders] == [o.client_order_id for o in again.orders] == \
        [f"16-{bars[1].ts_ms}:0"]
    assert other_bot.orders[0].client_order_id != first.orders[0].client_order_id


def test_no_new_closed_candle_means_no_plan(scripted):
    bars = bars_from_closes([100, 101, 102])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", quote_amount=D("100"))]
    done = _plan(bars, 2)
    again = _plan(bars, 2, state=done.state)
    assert not again.evaluated and again.orders == ()


def test_the_strategy_sees_the_fills_the_caller_reports(scripted):
    bars = bars_from_closes([100, 101, 102])
    fill = Fill("buy", D("100"), D("1"), D("0.1"), "USDT", D("0"), "taker", bars[0].ts_ms, order_id="x:0")
    _plan(bars, 2, fills=[fill])
    assert scripted.seen[-1]["fills"] == [fill]


def test_evaluate_is_plan_plus_paper_execution_under_the_same_ids(scripted):
    bars = bars_from_closes([100, 101, 102])
    scripted.script[bars[1].ts_ms] = [Intent("buy", "market", quote_amount=D("500")),
                                      Intent("buy", "limit", amount=D("1"), price=D("50"))]
    p = _plan(bars, 2)
    r = evaluate(strategy_id="test_scripted", params={}, state=None, closed_bars=bars[:2],
                 market=Market(next_open=bars[2].open, ts_ms=bars[2].ts_ms), wallet=Wallet(quote=D("1000")),
                 open_orders=[], rules=RULES, cfg=FillConfig(reject_rate=D("0")), seed=1, step_key=bars[1].ts_ms)
    assert [f.order_id for f in r.fills] == [p.orders[0].client_order_id]
    assert [o.id for o in r.new_orders] == [p.orders[1].client_order_id]


def test_the_bot_id_names_the_orders_but_never_changes_a_paper_fill():
    bars = synthetic_bars(160, seed=3)
    runs = {}
    for bot_id in (None, 7, 123456789):
        state, wallet, orders, fills = None, Wallet(quote=D("1000")), [], []
        for n in range(30, len(bars)):
            r = evaluate(strategy_id="grid", params={"lower": "90", "upper": "110", "levels": 8,
                                                     "order_amount": "50"},
                         state=state, closed_bars=bars[:n], market=Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms),
                         wallet=wallet, open_orders=orders, rules=RULES, cfg=FillConfig(), seed=5,
                         step_key=bars[n - 1].ts_ms, bot_id=bot_id)
            state, wallet, orders = r.state, r.wallet, r.open_orders
            fills += r.fills
        runs[bot_id] = (fills, wallet)
    plain_fills, plain_wallet = runs[None]
    assert plain_fills and all(":" in f.order_id and "-" not in f.order_id for f in plain_fills)
    for bot_id in (7, 123456789):
        fills, wallet = runs[bot_id]
        assert wallet == plain_wallet
        assert [(f.price, f.amount, f.fee, f.ts_ms) for f in fills] == \
            [(f.price, f.amount, f.fee, f.ts_ms) for f in plain_fills]
        assert all(f.order_id.split("-", 1)[1] == p.order_id for f, p in zip(fills, plain_fills, strict=True))
