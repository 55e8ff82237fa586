"""Engine alone: paper-bot evaluations per second on ONE core, on the synthetic feed.

Throughput is measured in CPU time of this one process (pinned to one core), so other work
on the machine slows the wall clock but not the figure much; the wall-clock rate is printed too.

Each "bot" is a strategy with its own params, wallet, open orders and state. For every new
1-minute candle of a seeded synthetic random walk (trading.feeds.SyntheticFeed) every bot is
evaluated once with the last `--window` closed candles (one list shared by all bots, as a tick
shares the candles of a symbol) — the same `evaluate()` call a paper tick makes. Optionally the
bot's state, wallet and open orders are round-tripped through JSON each step, as a tick that
persists them does. Also timed: the "no new candle" path (a tick between candle closes).

No Django, no database, one process:

    .venv/bin/python bench/engine.py                     # all four strategies
    .venv/bin/python bench/engine.py --bots 200 --bars 300 --persist
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trading.engine.runner import evaluate  # noqa: E402
from trading.engine.types import FillConfig, Market, MarketRules, RestingOrder, Wallet  # noqa: E402
from trading.feeds import Bar, SyntheticFeed  # noqa: E402

D = Decimal
RULES = MarketRules(amount_step=D("0.00001"), price_step=D("0.01"), min_cost=D("5"), maker_fee=D("0.001"),
                    taker_fee=D("0.001"), base_currency="BTC", quote_currency="USDT")


def synthetic_bars(n: int, seed: int) -> list[Bar]:
    feed = SyntheticFeed("paper", "BTC/USDT", seed=seed, start=D("30000"), volatility=0.002)
    bars, price, t0 = [], D("30000"), 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    for i in range(n):
        nxt = feed.next_price(price, i + 1)
        wiggle = (price * D("0.0005")).quantize(D("0.01"))
        bars.append(Bar(t0 + i * 60_000, price, max(price, nxt) + wiggle, min(price, nxt) - wiggle, nxt, D("3")))
        price = nxt
    return bars


def params_for(strategy: str, i: int, price: Decimal) -> dict:
    if strategy == "sma_cross":
        return {"fast": 3 + i % 7, "slow": 15 + i % 20}
    if strategy == "rsi":
        return {"period": 7 + i % 14, "oversold": 40, "overbought": 60}
    if strategy == "grid":
        return {"lower": str((price * D("0.97")).quantize(D("1"))), "upper": str((price * D("1.03")).quantize(D("1"))),
                "levels": 8 + i % 8, "order_amount": "100"}
    return {"interval_minutes": 5 + i % 30, "order_amount": "50", "take_profit_pct": "0.5"}


def run(strategy: str, bots: int, bars: list[Bar], window: int, persist: bool) -> dict:
    cfg = FillConfig()
    state = [{} for _ in range(bots)]
    wallets = [Wallet(quote=D("10000")) for _ in range(bots)]
    orders: list[list[RestingOrder]] = [[] for _ in range(bots)]
    params = [params_for(strategy, i, bars[window].close) for i in range(bots)]
    evals = fills = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for n in range(window, len(bars)):
        closed = bars[n - window:n]
        market = Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms)
        key = bars[n - 1].ts_ms
        for b in range(bots):
            if persist:
                st = json.loads(json.dumps(state[b]))
                wallet = Wallet.from_json(json.loads(json.dumps(wallets[b].to_json())))
                oo = [RestingOrder.from_json(o) for o in json.loads(json.dumps([o.to_json() for o in orders[b]]))]
            else:
                st, wallet, oo = state[b], wallets[b], orders[b]
            r = evaluate(strategy_id=strategy, params=params[b], state=st, closed_bars=closed, market=market,
                         wallet=wallet, open_orders=oo, rules=RULES, cfg=cfg, seed=b, step_key=key)
            state[b], wallets[b], orders[b] = r.state, r.wallet, r.open_orders
            evals += 1
            fills += len(r.fills)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start

    # ticks between candle closes: the same candles again -> evaluated=False
    closed = bars[len(bars) - window - 1:len(bars) - 1]
    market = Market(next_open=bars[-1].open, ts_ms=bars[-1].ts_ms)
    idle_start = time.process_time()
    for b in range(bots):
        evaluate(strategy_id=strategy, params=params[b], state=state[b], closed_bars=closed, market=market,
                 wallet=wallets[b], open_orders=orders[b], rules=RULES, cfg=cfg, seed=b, step_key=closed[-1].ts_ms)
    idle = time.process_time() - idle_start
    return {"strategy": strategy, "evals": evals, "fills": fills, "seconds": cpu, "per_s": evals / cpu,
            "wall_per_s": evals / elapsed, "us": cpu / evals * 1e6, "idle_per_s": bots / idle if idle else float("inf"),
            "state_bytes": sum(len(json.dumps(s)) for s in state) / bots}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", nargs="+", default=["sma_cross", "rsi", "grid", "dca"])
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--bars", type=int, default=400, help="candles in the synthetic feed")
    ap.add_argument("--window", type=int, default=100, help="closed candles passed to each evaluation")
    ap.add_argument("--persist", action="store_true", help="round-trip state/wallet/orders through JSON each step")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, honestly
    bars = synthetic_bars(args.bars, args.seed)
    print(f"engine bench: {args.bots} bots x {args.bars - args.window} candles, window {args.window}, "
          f"persist={'json' if args.persist else 'no'}, 1 core, python {sys.version.split()[0]}")
    print("evals/s and us/eval are per CPU-second of this process (one core); wall evals/s shows the machine's load")
    print(f"{'strategy':<10} {'evals':>8} {'fills':>6} {'evals/s':>9} {'us/eval':>8} {'wall/s':>8} "
          f"{'idle ticks/s':>13} {'state B':>8}")
    total_evals = total_s = 0.0
    for strategy in args.strategies:
        r = run(strategy, args.bots, bars, args.window, args.persist)
        total_evals += r["evals"]
        total_s += r["seconds"]
        print(f"{r['strategy']:<10} {r['evals']:>8} {r['fills']:>6} {r['per_s']:>9.0f} {r['us']:>8.1f} "
              f"{r['wall_per_s']:>8.0f} {r['idle_per_s']:>13.0f} {r['state_bytes']:>8.0f}")
    print(f"{'all':<10} {int(total_evals):>8} {'':>6} {total_evals / total_s:>9.0f} {total_s / total_evals * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
