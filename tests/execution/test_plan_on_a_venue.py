"""plan() + a Venue is the loop live trading will run. On the PaperVenue it must trade exactly as
evaluate() (the paper tick and the backtest) does: same fills, same wallet, same decisions."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from decimal import Decimal

import pytest

from tests.engine.factories import synthetic_bars
from trading.engine.paper import new_bars
from trading.engine.runner import evaluate, plan
from trading.engine.types import Fill, FillConfig, Intent, Market, MarketRules, Wallet
from trading.execution.paper import PaperVenue
from trading.execution.types import OrderRequest, VenueTrade
from trading.execution.venue import OrderNotFound

D = Decimal
RULES = MarketRules(amount_step=D("0.0001"), price_step=D("0.01"), min_cost=D("1"), maker_fee=D("0.001"),
                    taker_fee=D("0.001"), base_currency="BTC", quote_currency="USDT")
SYMBOL = "BTC/USDT"
CASES = {
    "grid": {"lower": "92", "upper": "108", "levels": 9, "order_amount": "60"},
    "dca": {"interval_minutes": 7, "order_amount": "40", "take_profit_pct": "0.5"},
    "sma_cross": {"fast": 3, "slow": 12},
    "rsi": {"period": 7, "oversold": 40, "overbought": 60},
}


def _key(f: Fill) -> tuple:
    return (f.order_id, f.side, f.price, f.amount, f.fee, f.liquidity, f.ts_ms)


def with_evaluate(strategy, params, bars, cfg, seed):
    state, wallet, orders, fills = None, Wallet(quote=D("1000")), [], []
    for n in range(1, len(bars)):
        r = evaluate(strategy_id=strategy, params=params, state=state, closed_bars=bars[:n],
                     market=Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms), wallet=wallet, open_orders=orders,
                     rules=RULES, cfg=cfg, seed=seed, step_key=bars[n - 1].ts_ms)
        state, wallet, orders = r.state, r.wallet, r.open_orders
        fills += r.fills
    return fills, wallet


def with_plan_and_venue(strategy, params, bars, cfg, seed):
    venue = PaperVenue(symbol=SYMBOL, wallet=Wallet(quote=D("1000")), rules=RULES, cfg=cfg, seed=seed)
    intents: dict[str, Intent] = {}  # what the caller keeps about its orders (the database, live)

    def as_fill(t: VenueTrade) -> Fill:
        i = intents[t.client_order_id]
        return Fill(side=t.side, price=t.price, amount=t.amount, fee=t.fees[0].amount,
                    fee_currency=t.fees[0].currency, slippage=D(0), liquidity=t.liquidity, ts_ms=t.ts_ms,
                    order_id=t.client_order_id, reason=i.reason, client_tag=i.client_tag)

    state, last_ms, since, fills = None, None, [], []
    for n in range(1, len(bars)):
        step_fills = [as_fill(t) for t in venue.advance(new_bars(bars[:n], last_ms))] if venue.resting else []
        resting = [replace(o, client_tag=intents[o.id].client_tag, reason=intents[o.id].reason)
                   for o in venue.resting]
        p = plan(strategy_id=strategy, params=params, state=state, closed_bars=bars[:n], wallet=venue.wallet,
                 open_orders=resting, rules=RULES, step_key=bars[n - 1].ts_ms, fills=since + step_fills)
        venue.set_market(Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms))
        since = []
        for o in p.orders:
            intents[o.client_order_id] = o.intent
            if o.intent.type == "cancel":
                with contextlib.suppress(OrderNotFound):
                    venue.cancel(symbol=SYMBOL, client_order_id=o.intent.order_id)
                continue
            placed = venue.submit(OrderRequest(client_order_id=o.client_order_id, symbol=SYMBOL,
                                               side=o.intent.side, type=o.intent.type, amount=o.intent.amount,
                                               quote_amount=o.intent.quote_amount, price=o.intent.price))
            since += [as_fill(t) for t in placed.trades]
        fills += step_fills + since
        state, last_ms = p.state, bars[n - 1].ts_ms
    return fills, venue.wallet


@pytest.mark.parametrize("strategy", list(CASES))
def test_plan_on_the_paper_venue_trades_exactly_as_evaluate(strategy):
    bars = synthetic_bars(400, seed=11, volatility=0.006)
    cfg = FillConfig()  # with the seeded ~3 % exchange rejections
    expected_fills, expected_wallet = with_evaluate(strategy, CASES[strategy], bars, cfg, seed=4)
    fills, wallet = with_plan_and_venue(strategy, CASES[strategy], bars, cfg, seed=4)
    assert len(expected_fills) >= 4, "the case must trade to prove anything"
    assert [_key(f) for f in fills] == [_key(f) for f in expected_fills]
    assert wallet == expected_wallet
