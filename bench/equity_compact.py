"""Nightly equity compaction: how long it takes and how much it removes.

Fills the equity table of N throw-away paper bots with one point a minute for D days (all older than
the detail period), runs `trading.services.retention.equity_compact` twice (the second run is what
every later night costs) and prints rows before/after and seconds. Deletes its bots afterwards.

    .venv/bin/python bench/equity_compact.py --bots 100 1000 --days 1

(with the same DATABASE_URL / SECRET_KEY / FIELD_ENCRYPTION_KEYS the app uses; `make services` runs
PostgreSQL and Redis).
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def run(bots: int, days: int) -> dict:
    from decimal import Decimal

    from django.db import connection

    from accounts.models import User
    from trading.models import Bot, EquitySnapshot
    from trading.services.retention import equity_compact

    owner, _ = User.objects.get_or_create(username="bench-equity")
    Bot.objects.filter(owner=owner).delete()
    Bot.objects.bulk_create(Bot(owner=owner, name=f"eq-{i}", exchange="binance", symbol="BTC/USDT", strategy="dca",
                                params={}, starting_balance=Decimal("1000"), quote=Decimal("1000"), seed=i)
                            for i in range(bots))
    ids = list(Bot.objects.filter(owner=owner).values_list("id", flat=True))
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    end = (now - timedelta(days=8)).replace(minute=0)
    start = end - timedelta(days=days)
    with connection.cursor() as cur:
        cur.execute("""
            INSERT INTO trading_equitysnapshot (bot_id, ts, price, base, quote, equity)
            SELECT b, t, 100, 0, 1000 + random() * 10, 1000 + random() * 10
            FROM unnest(%s::bigint[]) AS b, generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute',
                                                           interval '1 minute') AS t
        """, [ids, start, end])
        cur.execute("ANALYZE trading_equitysnapshot")
    before = EquitySnapshot.objects.filter(bot__owner=owner).count()
    t0 = time.perf_counter()
    first = equity_compact(detail_days=7, window_days=days + 2, now=now)
    t1 = time.perf_counter()
    second = equity_compact(detail_days=7, window_days=days + 2, now=now)
    t2 = time.perf_counter()
    after = EquitySnapshot.objects.filter(bot__owner=owner).count()
    Bot.objects.filter(owner=owner).delete()
    return {"bots": bots, "days": days, "before": before, "after": after, "deleted": first.deleted,
            "first_s": t1 - t0, "again_s": t2 - t1, "again_deleted": second.deleted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()
    import django

    django.setup()
    print(f"{'bots':>6} {'days':>4} {'rows before':>12} {'rows after':>11} {'first run s':>12} {'next night s':>13}")
    for n in args.bots:
        r = run(n, args.days)
        assert r["again_deleted"] == 0
        print(f"{r['bots']:>6} {r['days']:>4} {r['before']:>12,} {r['after']:>11,} {r['first_s']:>12.2f} "
              f"{r['again_s']:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
