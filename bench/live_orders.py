"""Live orders against the local Binance emulator through the real ccxt client: decision -> acknowledged.

For 1, 10 and 100 live bots (each with its own owner and exchange key, the worst case for requests: one
ccxt client and one reconciliation group per bot), a DCA strategy that buys on every new candle:
- decision -> order acknowledged by the emulator, p50 / p99 (from the order row written `new` inside the
  tick's transaction to the recorded answer: claim + signed POST + record);
- exchange requests per minute per live bot, quiet (nothing to buy: reconciliation only, 10 s cycles) and
  trading (one order per bot per minute + reconciliation), over 10 simulated minutes;
- quiet, the busiest 10 s reconciliation cycle: its exchange requests and its seconds (quiet checks that all
  fall due in the same cycle make one burst; spread over the interval they do not);
- one reconciliation cycle (every group, forced full check: open orders, trades, balance) for all bots.

The bots are made live directly in the throwaway database (no promotion workflow: that is not what is
measured). Runs in its own database `test_<name>` next to the one DATABASE_URL names:

    eval "$(.venv/bin/python scripts/stack.py env)"
    FIELD_ENCRYPTION_KEYS=... DEBUG=true .venv/bin/python bench/live_orders.py
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
COUNTS = (1, 10, 100)
MINUTES = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, nargs="*", default=list(COUNTS))
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_bots(n: int, emu, start: int) -> list:
    from accounts.models import User
    from keys.services import key_create
    from trading.models import Bot, PromotionRequest
    from trading.services.bots import bot_create

    bots = []
    for i in range(start, start + n):
        user = User.objects.create_user(username=f"bench{i}", email=f"bench{i}@example.com",
                                        password="bench-only-password")
        key = key_create(owner=user, exchange="binance", label="main", api_key=emu.api_key, secret=emu.secret)
        key.last_test_ok = True
        key.save(update_fields=["last_test_ok"])
        bot = bot_create(owner=user, name=f"live{i}", exchange="binance", symbol="BTC/USDT", strategy="dca",
                         params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("1000"))
        PromotionRequest.objects.create(bot=bot, requested_by=user, status="approved", allocation=Decimal("500"),
                                        quote_currency="USDT", key=key, require_approval=False,
                                        expires_at=bot.created_at + timedelta(days=1), activated_at=bot.created_at)
        Bot.objects.filter(pk=bot.pk).update(mode="live", status="running", base=0, quote=Decimal("500"))
        bots.append(bot)
    return bots


def run(args) -> None:
    from django.conf import settings
    from django.core.cache import cache
    from django.utils import timezone

    from tests.bots_support import use_replay, write_recording
    from tests.emulator.binance import BinanceEmulator
    from trading.execution.ccxt_venue import live_clients_forget
    from trading.execution.reconcile import reconcile_live
    from trading.models import Bot, LiveCursor, Order
    from trading.services.live_ticks import live_tick_run
    from trading.services.prices import prices_poll

    emu = BinanceEmulator().start()
    tmp = tempfile.mkdtemp(prefix="live-bench-")
    write_recording(Path(tmp), bars=600)
    use_replay(settings, Path(tmp))
    settings.CCXT_OVERRIDES = emu.ccxt_overrides()
    settings.ENABLE_LIVE_TRADING = True
    settings.ENABLE_TRADING = True
    print(f"{'bots':>5} {'orders':>7} {'p50 ms':>8} {'p99 ms':>8} {'quiet req/min/bot':>18} "
          f"{'trading req/min/bot':>20} {'quiet peak req':>15} {'quiet peak s':>13} {'reconcile s':>12} "
          f"{'reconcile req':>14}")
    made = 0
    try:
        for n in args.bots:
            emu.reset()
            emu.set_balance("USDT", "100000000")
            emu.set_price("BTC/USDT", "99.99", "100.01")
            cache.clear()
            live_clients_forget()
            Bot.objects.filter(mode="live").update(status="stopped")
            bots = make_bots(n, emu, made)
            made += n
            ids = [b.pk for b in bots]

            def tick():
                result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
                key = int(max(t.received_at for t in result.ticks) * 1000)
                return live_tick_run(exchange="binance", tick_key=key)

            # trading: one tick per simulated minute (a new candle each poll), six 10 s reconciliation cycles
            latencies: list[float] = []
            before = emu.count()
            now = timezone.now()
            for minute in range(MINUTES):
                latencies += tick().decided_ms
                for cycle in range(6):
                    reconcile_live(now=now + timedelta(seconds=60 * minute + 10 * cycle))
            trading_rate = (emu.count() - before) / n / MINUTES
            orders = Order.objects.filter(bot_id__in=ids).exclude(exchange_order_id="").count()

            # quiet: the strategy has nothing to do (bots paused from deciding), reconciliation keeps running
            Bot.objects.filter(pk__in=ids).update(status="paused")
            LiveCursor.objects.update(checked_at=None)
            before = emu.count()
            later = now + timedelta(minutes=MINUTES + 1)
            reconcile_live(now=later)  # every group's first full check
            before = emu.count()
            peak_req, peak_s = 0, 0.0
            for step in range(1, MINUTES * 6 + 1):
                quiet = reconcile_live(now=later + timedelta(seconds=10 * step))
                peak_req, peak_s = max(peak_req, quiet.requests), max(peak_s, quiet.seconds)
            quiet_rate = (emu.count() - before) / n / MINUTES

            t = time.perf_counter()
            cycle = reconcile_live(force=True)
            cycle_s = time.perf_counter() - t
            print(f"{n:>5} {orders:>7} {statistics.median(latencies):>8.1f} {pct(latencies, 0.99):>8.1f} "
                  f"{quiet_rate:>18.2f} {trading_rate:>20.2f} {peak_req:>15} {peak_s:>13.2f} {cycle_s:>12.2f} "
                  f"{cycle.requests:>14}")
            Bot.objects.filter(pk__in=ids).update(status="stopped")
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
