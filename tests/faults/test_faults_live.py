"""A process killed with SIGKILL between submitting a live order and recording the answer, with real processes:
a platform of its own (PostgreSQL, Redis, then a Celery worker and beat), a bot made live through the promotion
workflow, the Binance emulator through the real ccxt client.

The submitting process claims the order row and sends it; the emulator executes the order and holds its answer
back (`late_answer`), and the process is killed while it waits. Expected after the restart (a worker and beat
started afresh, nothing else done by hand): the beat's reconciliation finds the order by its client order id,
our row is `filled` with the exchange's order id and exactly one fill, the bot's live wallet moved once, and
nothing was sent again: one order on the exchange for that client id, one order request in its log.
"""

import json
import os
import signal
import subprocess
import time
from decimal import Decimal

import pytest

from tests.emulator.binance import BinanceEmulator
from tests.faults.platform import ROOT, VENV_BIN, Platform

pytestmark = pytest.mark.slow

SETUP = """
from decimal import Decimal
from django.contrib.auth.models import Permission
from accounts.models import User
from keys.services import key_create, key_test
from tests.emulator.binance import API_KEY, SECRET
from tests.promotion.fixtures import paper_record_write
from trading.models import Bot
from trading.promotion.services import promotion_approve, promotion_confirm, promotion_request
from trading.services.bots import bot_create, bot_start
from trading.services.markets import markets_sync
markets_sync(exchange="binance")
gina = User.objects.create_user(username="gina", email="gina@example.com", password="Fault-test-gina-1")
dave = User.objects.create_user(username="dave", email="dave@example.com", password="Fault-test-dave-1",
                                is_staff=True)
dave.user_permissions.add(Permission.objects.get(codename="approve_promotion", content_type__app_label="risk"))
dave = User.objects.get(pk=dave.pk)
key = key_create(owner=gina, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)
assert key_test(key=key, actor=gina)["ok"]
# a strategy that needs 2000 closed candles: it places nothing of its own while the test runs
bot = bot_create(owner=gina, name="live", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                 params={"fast": 2, "slow": 2000}, starting_balance=Decimal("1000"))
paper_record_write(bot)
promotion_request(bot=Bot.objects.get(pk=bot.pk), actor=gina, allocation="500")
promotion_approve(promotion=promotion_confirm(bot=Bot.objects.get(pk=bot.pk), actor=gina, phrase="I UNDERSTAND"),
                  actor=dave)
bot_start(bot=Bot.objects.get(pk=bot.pk), actor=gina)
assert Bot.objects.get(pk=bot.pk).mode == "live"
print("BOT", bot.pk)
"""

SUBMIT = """
from decimal import Decimal
from django.db import transaction
from trading.engine.ids import client_order_id
from trading.execution.ccxt_venue import CcxtVenue
from trading.execution.live_orders import live_order_claim, live_order_open, live_report_take_in
from trading.execution.routing import live_key_for
from trading.execution.types import OrderRequest
from trading.models import Bot
bot = Bot.objects.get(pk={pk})
request = OrderRequest(client_order_id=client_order_id(bot_id=bot.pk, step_key=1, n=0), symbol="BTC/USDT",
                       side="buy", type="market", amount=Decimal("0.002"))  # 130 USDT
with transaction.atomic():
    order = live_order_open(bot=bot, request=request)
assert live_order_claim(order=order)
print("SENDING", order.client_id, flush=True)
venue = CcxtVenue(key=live_key_for(bot))
report = venue.submit(request)  # the exchange executes it and holds the answer: the process is killed here
live_report_take_in(venue=venue, bot=bot, order_id=order.pk, report=report)
print("RECORDED", flush=True)
"""


@pytest.fixture
def live_platform(tmp_path_factory, faults_cluster):
    emu = BinanceEmulator().start()
    var = tmp_path_factory.mktemp("faults-live") / "var"
    var.mkdir()
    plat = Platform(var, {
        "MARKET_DATA_SOURCE": "ccxt", "CCXT_OVERRIDES": json.dumps(emu.ccxt_overrides()), "CCXT_TIMEOUT_MS": "20000",
        "ENABLE_LIVE_TRADING": "true", "DEFAULT_WATCHLIST": "", "LIVE_RECONCILE_SECONDS": "2",
        "LIVE_RECONCILE_WORKERS": "1", "HEARTBEAT_INTERVAL_SECONDS": "1"}, faults_cluster)
    try:
        plat.up()
        out = plat.shell(SETUP)
        bot_id = int(out.split("BOT", 1)[1].split()[0])
        yield plat, emu, bot_id
    finally:
        plat.down()
        emu.clear_faults()
        emu.stop()


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_process_killed_between_submit_and_record_is_reconciled_after_the_restart(live_platform):
    plat, emu, bot_id = live_platform
    emu.fail("late_answer", path="/api/v3/order", times=1, seconds=60)  # executes, then holds the answer
    proc = subprocess.Popen([str(VENV_BIN / "python"), "manage.py", "shell", "-c", SUBMIT.format(pk=bot_id)],
                            cwd=ROOT, env=plat.stack.child_env(plat.cfg), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait(lambda: (len(emu.orders_received) == 1 and emu.orders_received[0].outcome == "accepted")
              or proc.poll() is not None, 60, "the order to reach the exchange")
        assert proc.poll() is None, proc.stdout.read()  # still waiting for the answer
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = proc.stdout.read()
    assert "SENDING" in out and "RECORDED" not in out, out
    client_id = out.split("SENDING", 1)[1].split()[0]
    [(status, exchange_id)] = plat.sql("SELECT status, exchange_order_id FROM trading_order WHERE client_id = %s",
                                       (client_id,))
    assert (status, exchange_id) == ("new", "")  # what the killed process left behind: claimed, no answer
    emu.clear_faults()

    plat.run("worker", "beat")  # the restart: the beat's reconciliation does the rest
    # polled while the beat and the worker run: the order is never seen `filled` without its fill (the lookup
    # and the order's trades are recorded in one transaction; the wallet never lags the status)
    seen = []

    def settled():
        row = plat.sql("SELECT o.status, count(f.id) FROM trading_order o LEFT JOIN trading_fill f ON "
                       "f.order_id = o.id WHERE o.client_id = %s GROUP BY o.status", (client_id,))[0]
        seen.append(row)
        return row[0] == "filled"

    _wait(settled, 90, "reconciliation to record the order as filled")
    assert [r for r in seen if r[0] == "filled"][0] == ("filled", 1), seen
    placed = emu.orders(client_id)
    assert len(placed) == 1 and placed[0]["status"] == "FILLED"
    [(exchange_id, filled)] = plat.sql("SELECT exchange_order_id, filled FROM trading_order WHERE client_id = %s",
                                       (client_id,))
    assert exchange_id == str(placed[0]["orderId"]) and Decimal(filled) == Decimal(placed[0]["executedQty"])
    fills = plat.sql("SELECT f.amount, f.exchange_trade_id FROM trading_fill f JOIN trading_order o "
                     "ON o.id = f.order_id WHERE o.client_id = %s", (client_id,))
    assert len(fills) == 1 and fills[0][1] and Decimal(fills[0][0]) == Decimal(filled)
    [(quote, base)] = plat.sql("SELECT quote, base FROM trading_bot WHERE id = %s", (bot_id,))
    assert Decimal(base) > 0 and Decimal(quote) < Decimal(500)  # the live wallet moved, once
    assert len(plat.sql("SELECT id FROM trading_fill WHERE exchange_trade_id <> ''")) == 1
    assert len(emu.orders_received) == 1 and len(emu.orders(client_id)) == 1  # looked up, never sent again
