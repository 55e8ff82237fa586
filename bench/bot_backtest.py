"""How long the bot page's "Backtest these settings" takes: POST /api/bots/{id}/backtest/ end to end.

For windows of 2,000 / 10,000 / 50,000 (the cap) stored 1m candles: the candle read from PostgreSQL, the
engine replay, and the whole API request (read + replay + JSON), with the response size (the equity
curve is downsampled to at most 1,000 points). sma_cross fast 10 / slow 30, the platform risk limits.

Runs in its own throwaway database `test_<name>` next to the one DATABASE_URL names, e.g. with the
local services up:

    eval "$(.venv/bin/python scripts/stack.py env)"
    DEBUG=true .venv/bin/python bench/bot_backtest.py --repeat 3
"""

import argparse
import math
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

START_MS = 1_700_000_040_000
WINDOWS = (2_000, 10_000, 50_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candles", type=int, nargs="+", default=list(WINDOWS), help="window sizes (make bench: fewer)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.ALLOWED_HOSTS = ["*"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def bars(n: int):
    from trading.feeds import Bar

    prev = Decimal("100")
    for i in range(n):
        close = Decimal(str(round(100 * (1 + 0.03 * math.sin(i / 90 * 2 * math.pi) + 0.004 * math.sin(i * 1.7)), 4)))
        yield Bar(START_MS + i * 60_000, prev, max(prev, close) + Decimal("0.05"), min(prev, close) - Decimal("0.05"),
                  close, Decimal(10 + i % 7))
        prev = close


def run(args) -> None:
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from accounts.models import User
    from trading.api.backtest_views import BacktestThrottle
    from trading.backtest import run_backtest
    from trading.services import backtests
    from trading.services.bots import bot_create
    from trading.services.candles import candles_store

    BacktestThrottle.rate = "100000/min"
    t = time.perf_counter()
    stored = candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=bars(max(args.candles)))
    print(f"stored {stored:,} candles in {time.perf_counter() - t:.1f} s")
    user = User.objects.create_user(username="bench", email="bench@example.com", password="bench-only-password")
    bot = bot_create(owner=user, name="Bench", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 10, "slow": 30}, starting_balance=Decimal("1000"), seed=1)
    client = APIClient()
    client.force_authenticate(user)
    cache.clear()
    print(f"{'candles':>8} {'read s':>8} {'replay s':>9} {'API s':>7} {'candles/s':>10} {'trades':>7} "
          f"{'points':>7} {'JSON KB':>8}")
    for n in args.candles:
        read, replay, api = [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            series, _ = backtests._load_bars(bot=bot, start=None, end=None, timeframe="1m", bars=n)
            read.append(time.perf_counter() - t)
            t = time.perf_counter()
            run_backtest(series, bot.strategy, bot.params, bot.starting_balance,
                         rules=backtests.market_rules(exchange=bot.exchange, symbol=bot.symbol),
                         cfg=backtests.fill_config_for(bot.fill_overrides), seed=bot.seed,
                         limits=backtests._limits(bot))
            replay.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = client.post(f"/api/bots/{bot.pk}/backtest/", {"bars": n}, format="json")
            api.append(time.perf_counter() - t)
            assert r.status_code == 200, r.content[:300]
        body = r.json()
        best = min(api)
        print(f"{n:>8,} {min(read):>8.3f} {min(replay):>9.3f} {best:>7.3f} {n / best:>10,.0f} "
              f"{body['closed_trades']:>7} {len(body['equity_curve']):>7} {len(r.content) / 1024:>8.1f}")


if __name__ == "__main__":
    main()
