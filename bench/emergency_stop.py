"""Emergency stop latency: how long POST /api/system/emergency-stop/ takes to answer, with no Celery.

For each scenario a user has N running paper bots, each with a few resting orders (and, with
--load, separate processes keep placing orders through risk.services.order_gate the way the tick
workers do, so the stop has to wait for in-flight order transactions). Each round: the API call is timed from
request to response (in-process Django test client, JWT auth, the full middleware and DRF stack),
then the bots, orders and switch are put back. No Celery worker or beat runs at any time.

Runs in its own throwaway database `test_<name>` (created, migrated, dropped), next to the one
DATABASE_URL names, e.g. with the local services up:

    eval "$(.venv/bin/python scripts/stack.py env)"
    DEBUG=true .venv/bin/python bench/emergency_stop.py --bots 1 10 100 --rounds 20 --load 0 4

Target: p99 under 200 ms on this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--orders", type=int, default=3, help="resting orders per bot")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--load", type=int, nargs="+", default=[0, 4], help="order-placing processes")
    parser.add_argument("--keepdb", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=args.keepdb)
    try:
        rows = [run(bots, load, args.orders, args.rounds) for bots in args.bots for load in args.load]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=args.keepdb)
    print(f"\nemergency stop, POST /api/system/emergency-stop/ (no Celery worker or beat running), "
          f"{args.rounds} rounds each")
    print(f"{'bots':>5} {'orders':>7} {'load prc':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'service p50':>12} {'switch on p50':>14}")
    for r in rows:
        print(f"{r['bots']:>5} {r['orders']:>7} {r['load']:>8} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['max']:>8.1f} "
              f"{r['service_p50']:>12.1f} {r['engaged_p50']:>14.1f}")


def run(n_bots: int, load: int, orders_per_bot: int, rounds: int) -> dict:
    from django.db import connection, connections, transaction
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.services import tokens_issue
    from risk.checks import OrderProposal, RiskState
    from risk.models import KillSwitch
    from risk.services import order_gate
    from trading.models import Bot, Order

    user = User.objects.create_user(username=f"bench-{uuid.uuid4().hex[:8]}", password="bench-password-123")
    bot_ids = [Bot.objects.create(owner=user, name=f"b{i}", exchange="binance", symbol="BTC/USDT",
                                  strategy="sma_cross", params={"fast": 2, "slow": 3}, seed=i,
                                  starting_balance=Decimal(1000), quote=Decimal(1000)).pk for i in range(n_bots)]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access_token']}")

    def reset() -> None:
        KillSwitch.objects.filter(user=user).update(engaged=False)
        Bot.objects.filter(pk__in=bot_ids).update(status="running", halt_reason="", reduce_only=False)
        Order.objects.filter(bot_id__in=bot_ids).delete()
        Order.objects.bulk_create([Order(bot_id=b, client_id=f"rest:{b}:{k}", side="buy", type="limit",
                                         amount=Decimal("0.001"), price=Decimal("20000"), status="open")
                                   for b in bot_ids for k in range(orders_per_bot)])

    stop_load = mp.get_context("fork").Event()
    state = RiskState(equity=Decimal(1000), day_start_equity=Decimal(1000), peak_equity=Decimal(1000),
                      position_base=Decimal(0))
    proposal = OrderProposal(side="buy", amount=Decimal("0.0001"), price=Decimal("20000"))

    def place(worker: int) -> None:
        """A tick worker: lock a bot, ask the gate, write the order, in one transaction."""
        i = worker
        while not stop_load.is_set():
            i += 1
            with transaction.atomic():
                bot = Bot.objects.select_for_update(no_key=True).get(pk=bot_ids[i % len(bot_ids)])
                if order_gate(bot=bot, proposal=proposal, state=state).allowed:
                    Order.objects.create(bot=bot, client_id=uuid.uuid4().hex, side="buy", type="market",
                                         amount=Decimal("0.0001"), status="filled")
                time.sleep(0.002)  # strategy + fill work inside the transaction
        connection.close()

    times, service, engaged = [], [], []
    for _ in range(rounds):
        reset()
        connections.close_all()  # never share a connection with a forked child
        procs = [mp.get_context("fork").Process(target=place, args=(w,), daemon=True) for w in range(load)]
        stop_load.clear()
        for p in procs:
            p.start()
        time.sleep(0.3 if load else 0)
        started = time.perf_counter()
        response = client.post("/api/system/emergency-stop/", {"scope": "user"}, format="json")
        times.append((time.perf_counter() - started) * 1000)
        stop_load.set()
        for p in procs:
            p.join()
        body = response.json()
        if response.status_code != 200 or len(body["bots_halted"]) != n_bots:
            raise SystemExit(f"stop failed: {response.status_code} {body}")
        service.append(body["elapsed_ms"])
        engaged.append(body["engaged_ms"])
    Bot.objects.filter(owner=user).delete()
    times.sort()
    return {"bots": n_bots, "orders": n_bots * orders_per_bot, "load": load, "p50": statistics.median(times),
            "p95": times[max(0, int(len(times) * 0.95) - 1)], "max": times[-1],
            "service_p50": statistics.median(service), "engaged_p50": statistics.median(engaged)}


if __name__ == "__main__":
    main()
