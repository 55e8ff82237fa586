"""What a live bot's owner reads about its live trading: the equity the live tick writes, the performance of
its live record (from the allocation, not the paper record), the exchange's own order and trade ids in the
orders and trades API, and the report of the last cancel on the exchange (which orders, which not, why)."""

from decimal import Decimal

import pytest

from tests.live.conftest import live_tick
from tests.live.test_live_stop import resting
from trading.execution.safety import emergency_stop
from trading.models import Bot, EquitySnapshot, Order
from trading.selectors import live_cancel_report_last

pytestmark = pytest.mark.django_db


def test_the_live_tick_writes_the_live_wallets_equity_every_tick(live_bot, emu):
    assert not EquitySnapshot.objects.filter(bot=live_bot).exists()  # the replayed-by-hand record wrote none
    for _ in range(3):
        live_tick()
    points = list(EquitySnapshot.objects.filter(bot=live_bot).order_by("ts"))
    assert len(points) == 3
    bot = Bot.objects.get(pk=live_bot.pk)
    last = points[-1]
    assert (last.base, last.quote) == (bot.base, bot.quote) and bot.base > 0  # after the live buy's fill
    assert last.equity == bot.quote + bot.base * last.price
    assert points[0].ts < points[1].ts < points[2].ts


def test_a_live_bots_performance_is_its_live_record_against_the_allocation(live_bot, emu, alice, api):
    paper = api(alice).get(f"/api/bots/{live_bot.pk}/performance/").json()
    assert paper["starting_balance"] == "500" and paper["closed_trades"] == 0  # not the 30 paper round trips
    assert paper["live_since"] is not None and paper["return_pct"] == "0"
    for _ in range(2):
        live_tick()
    perf = api(alice).get(f"/api/bots/{live_bot.pk}/performance/").json()
    bot = Bot.objects.get(pk=live_bot.pk)
    assert len(perf["equity_curve"]) == 2
    assert Decimal(perf["position"]["base"]) == bot.base and Decimal(perf["position"]["quote"]) == bot.quote
    assert Decimal(perf["fees_paid"]) > 0 and perf["closed_trades"] == 0  # one live buy, nothing sold yet
    deals = api(alice).get(f"/api/bots/{live_bot.pk}/deals/").json()
    assert deals["closed_trades"] == [] and Decimal(deals["open_position"]["amount"]) == bot.base


def test_the_orders_and_trades_api_give_the_exchanges_ids(live_bot, emu, alice, api):
    live_tick()
    sent = emu.orders_received[0]
    orders = api(alice).get(f"/api/bots/{live_bot.pk}/orders/").json()["results"]
    live = next(o for o in orders if o["client_id"] == sent.client_order_id)
    assert live["exchange_order_id"] == str(sent.order_id)
    assert {o["exchange_order_id"] for o in orders if o["client_id"].startswith("rec:")} == {""}  # paper
    trades = api(alice).get(f"/api/bots/{live_bot.pk}/trades/").json()["results"]
    mine = [t for t in trades if t["order_id"] == live["id"]]
    assert len(mine) == 1 and mine[0]["exchange_trade_id"]
    assert emu.orders(sent.client_order_id)[0]["orderId"] == sent.order_id
    schema = api(alice).get("/api/schema/?format=json").json()["components"]["schemas"]
    assert "exchange_order_id" in schema["OrderOut"]["properties"]
    assert "exchange_trade_id" in schema["TradeOut"]["properties"]


def test_the_last_cancel_on_the_exchange_is_kept_with_what_failed_and_why(live_bot, emu, alice):
    assert live_cancel_report_last(bot=live_bot) is None
    first, second = resting(live_bot, price="95", step=1), resting(live_bot, price="94", step=2)
    emu.fail("server_error", path="/api/v3/order", times=1)  # the first cancel fails, the second goes through
    result = emergency_stop(actor=alice)
    report = live_cancel_report_last(bot=live_bot)
    assert [f["order"] for f in report["failed"]] == [f["order"] for f in result.live_orders_failed] == [first.client_id]
    assert report["failed"][0]["exchange_order_id"] == first.exchange_order_id and report["failed"][0]["reason"]
    assert [c["order"] for c in report["cancelled"]] == [second.client_id]
    assert report["cause"].startswith("Emergency stop by alice")
    assert Order.objects.get(pk=first.pk).status == "open" and Order.objects.get(pk=second.pk).status == "cancelled"
