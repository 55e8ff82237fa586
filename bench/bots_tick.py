"""How many running paper bots one tick serves within the 2 s poll interval, on PostgreSQL.

Creates N paper bots on one symbol of the replay feed (a generated recording, so every poll closes a
new candle and EVERY bot is evaluated on EVERY tick: the worst case; on the live 1m feed only the first
tick after a minute closes does this work, the other ~29 ticks of the minute find nothing new), then
runs `prices_poll` + `tick_run` exactly as the worker does and reports, per tick: seconds, bots
evaluated, orders and fills written. Memory per bot: the Python heap the tick allocates (tracemalloc
peak) and the growth of the process's RSS, divided by N.

Run against the same DATABASE_URL / REDIS_URL / SECRET_KEY / FIELD_ENCRYPTION_KEYS the app uses, on a
migrated database (it creates and finally deletes a user "bench-bots" and its bots):

    .venv/bin/python bench/bots_tick.py --bots 1000 5000 10000 --ticks 5 --strategy sma_cross
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

PARAMS = {
    "sma_cross": {"fast": 3, "slow": 8},
    "rsi": {"period": 14},
    "dca": {"interval_minutes": 3, "order_amount": "5", "take_profit_pct": "1"},
    "grid": {"lower": "95", "upper": "105", "levels": 5, "order_amount": "0.1"},
}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shard_proc(key: int, shard: int, shards: int, out) -> None:
    from django.db import connection

    from trading.services.ticks import tick_run

    connection.close()  # never share the parent's socket
    s = tick_run(exchange="binance", tick_key=key, shard=shard, shards=shards)
    out.put((s.evaluated, s.orders, s.fills, s.errors))


def _sharded(key: int, processes: int):
    """One tick shared by `processes` forked workers (what BOT_TICK_SHARDS does with Celery workers)."""
    import multiprocessing as mp

    from django.db import connection

    from trading.services.ticks import TickSummary

    connection.close()
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_shard_proc, args=(key, i, processes, out)) for i in range(processes)]
    for p in procs:
        p.start()
    total = TickSummary("binance", key)
    for _ in procs:
        evaluated, orders, fills, errors = out.get(timeout=120)
        total.evaluated += evaluated
        total.orders += orders
        total.fills += fills
        total.errors += errors
    for p in procs:
        p.join()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bots", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--ticks", type=int, default=5, help="ticks measured per size (after 10 warm-up candles)")
    ap.add_argument("--strategy", choices=sorted(PARAMS), default="sma_cross")
    ap.add_argument("--chunk", type=int, default=None, help="BOT_TICK_CHUNK (bots per transaction)")
    ap.add_argument("--processes", type=int, default=1,
                    help="worker processes sharing each tick (BOT_TICK_SHARDS), forked from this one")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-bots-"))
    os.environ["MARKET_DATA_SOURCE"] = "replay"
    os.environ["MARKET_DATA_REPLAY_PATH"] = str(tmp)
    os.environ.setdefault("DEFAULT_WATCHLIST", "")
    if args.chunk:
        os.environ["BOT_TICK_CHUNK"] = str(args.chunk)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from accounts.models import User
    from config.redis import get_redis
    from tests.bots_support import write_recording
    from trading.engine.strategies import validate_params
    from trading.models import Bot, Fill, Order
    from trading.price_selectors import STEP_KEY, _replay_cache
    from trading.services.prices import prices_poll
    from trading.services.ticks import tick_run

    write_recording(tmp, bars=2000, exchange="binance", symbol="BTC/USDT", period=12, amplitude=0.02)
    params = validate_params(args.strategy, PARAMS[args.strategy])
    print(f"# {args.strategy} {params}; PostgreSQL {connection.pg_version}; chunk {settings.BOT_TICK_CHUNK}; "
          f"cpus {os.cpu_count()}")
    print("| bots | processes | tick p50 s | tick max s | bots/s | evaluated/tick | orders/tick | fills/tick "
          "| heap/bot KB | RSS growth/bot KB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    detail: list[str] = []
    for n in args.bots:
        User.objects.filter(username="bench-bots").delete()
        user = User.objects.create_user(username="bench-bots", email="bench@example.com", password=None)
        Bot.objects.bulk_create([
            Bot(owner=user, name=f"bench {i}", exchange="binance", symbol="BTC/USDT", strategy=args.strategy,
                params=params, starting_balance=Decimal("1000"), quote=Decimal("1000"), seed=i,
                status=Bot.Status.RUNNING) for i in range(n)], batch_size=2000)
        _replay_cache.clear()
        get_redis().delete(STEP_KEY.format(exchange="binance"))

        def tick(processes: int = 1):
            result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
            if result.skipped:
                raise SystemExit("another poll holds the lock for binance: stop the worker/beat first")
            key = int(result.ticks[0].received_at * 1000)
            if processes == 1:
                return tick_run(exchange="binance", tick_key=key)
            return _sharded(key, processes)

        for _ in range(10):  # warm up: the strategies' lookback fills, some positions open
            tick()
        gc.collect()
        rss_before = _rss_mb()
        times, summaries = [], []
        for _ in range(args.ticks):
            started = time.perf_counter()
            s = tick(args.processes)
            times.append(time.perf_counter() - started)
            summaries.append(s)
        # memory: one more tick in this process under tracemalloc (it slows the tick, so it is not timed)
        tracemalloc.start()
        base_heap = tracemalloc.get_traced_memory()[0]
        tick()
        heap_peak = tracemalloc.get_traced_memory()[1] - base_heap
        tracemalloc.stop()
        rss_growth = max(0.0, _rss_mb() - rss_before)
        evaluated = statistics.mean(s.evaluated for s in summaries)
        assert all(s.errors == 0 for s in summaries), [s.errors for s in summaries]
        assert all(s.evaluated == n for s in summaries), [s.evaluated for s in summaries]
        print(f"| {n:,} | {args.processes} | {statistics.median(times):.2f} | {max(times):.2f} | "
              f"{n / statistics.median(times):,.0f} | {evaluated:,.0f} | "
              f"{statistics.mean(s.orders for s in summaries):,.0f} | {statistics.mean(s.fills for s in summaries):,.0f} | "
              f"{heap_peak / n / 1024:.1f} | {rss_growth * 1024 / n:.2f} |", flush=True)
        detail.append(f"#   {n:,} bots, each tick (seconds/orders): "
                      + ", ".join(f"{t:.2f}/{s.orders:,}" for t, s in zip(times, summaries, strict=True)))
        Fill.objects.filter(bot__owner=user).delete()
        Order.objects.filter(bot__owner=user).delete()
        user.delete()
    print("(tick = poll + evaluating every bot + writing its orders, fills, wallet, state and equity point)")
    print("\n".join(detail))


if __name__ == "__main__":
    main()
