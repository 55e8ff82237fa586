"""Faults on the way to the exchange: a lost answer, a worker killed mid-submit, a reused client id, the
exchange down. Our orders and fills must end equal to the exchange's, and nothing is ever sent twice."""

from decimal import Decimal

import pytest
from django.db import transaction

from notifications.models import Outbox
from tests.live.conftest import live_tick
from trading.engine.ids import client_order_id
from trading.execution.ccxt_venue import CcxtVenue
from trading.execution.live_orders import live_order_claim, live_order_open, live_report_record, request_of
from trading.execution.reconcile import reconcile_live
from trading.execution.routing import live_key_for
from trading.execution.types import OrderRequest
from trading.models import Bot, Fill, Order

pytestmark = pytest.mark.django_db
D = Decimal


def live_orders(bot):
    return Order.objects.filter(bot=bot).exclude(client_id__startswith="rec:")


def venue(bot) -> CcxtVenue:
    return CcxtVenue(key=live_key_for(bot))


def row_for(bot, *, side="buy", type="market", amount="0.05", price=None, step=1) -> tuple[Order, OrderRequest]:
    request = OrderRequest(client_order_id=client_order_id(bot_id=bot.pk, step_key=step, n=0), symbol=bot.symbol,
                           side=side, type=type, amount=D(amount), price=D(price) if price else None)
    with transaction.atomic():
        order = live_order_open(bot=Bot.objects.get(pk=bot.pk), request=request)
    assert live_order_claim(order=order)
    return order, request


def test_a_submit_whose_answer_is_lost_is_looked_up_not_resent(live_bot, emu, api, anon):
    emu.fail("late_answer", path="/api/v3/order", times=1, seconds=4)  # executes, answers after the timeout
    summary = live_tick()
    assert summary.unknown == 1
    order = live_orders(live_bot).get()
    assert order.status == "unknown" and order.exchange_order_id == ""
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.status == "paused" and "did not answer" in bot.last_tick_note
    assert anon.get("/api/health/").json()["checks"]["live_trading"]["ok"] is False
    emu.clear_faults()
    live_tick()  # the bot is paused: nothing new, nothing again
    assert emu.count("/api/v3/order", "POST") == 1
    reconcile_live()
    order.refresh_from_db()
    assert order.status == "filled" and order.exchange_order_id
    assert len(emu.orders(order.client_id)) == 1 and emu.count("/api/v3/order", "POST") == 1
    lookups = [h.query for h in emu.requests if (h.method, h.path) == ("GET", "/api/v3/order")]
    assert lookups and all(f"origClientOrderId={order.client_id.replace(':', '%3A')}" in q for q in lookups), lookups
    fills = Fill.objects.filter(order=order)
    assert fills.count() == 1 and fills.get().amount == order.filled
    bot.refresh_from_db()
    assert bot.status == "running" and bot.quote == D("500") - fills.get().price * fills.get().amount
    reconcile_live(force=True)
    assert Fill.objects.filter(order=order).count() == 1  # a trade seen again is not a second fill


@pytest.mark.parametrize("left_as", ["new", "unknown"])
def test_a_worker_killed_between_submit_and_record_is_reconciled(live_bot, emu, left_as):
    order, request = row_for(live_bot)
    venue(live_bot).submit(request)  # it reached the exchange; the worker died before recording the answer
    if left_as == "unknown":
        Order.objects.filter(pk=order.pk).update(status="unknown")
    reconcile_live()
    order.refresh_from_db()
    placed = emu.orders(request.client_order_id)
    assert len(placed) == 1 and order.exchange_order_id == str(placed[0]["orderId"])
    assert order.status == "filled" and order.filled == D("0.05")
    assert Fill.objects.filter(order=order).count() == 1


def test_a_reused_client_id_is_refused_by_the_exchange_and_gives_back_the_first_order(live_bot, emu):
    order, request = row_for(live_bot)
    first = venue(live_bot).submit(request)
    again = venue(live_bot).submit(request)
    assert emu.orders_received[-1].outcome == "-2010 Duplicate order sent."
    assert again.exchange_order_id == first.exchange_order_id and again.status == "filled"
    assert len(emu.orders(request.client_order_id)) == 1


def test_an_order_the_exchange_never_got_is_sent_again_once_with_the_same_id(live_bot, emu, settings):
    settings.LIVE_RESEND_AFTER_SECONDS = 0
    order, request = row_for(live_bot)
    Order.objects.filter(pk=order.pk).update(status="unknown")  # the request died before the exchange saw it
    reconcile_live()
    order.refresh_from_db()
    assert order.attempts == 2 and order.status == "filled"
    assert [r.client_order_id for r in emu.orders_received] == [request.client_order_id]
    reconcile_live(force=True)
    assert len(emu.orders_received) == 1


def test_with_the_exchange_down_the_bot_pauses_and_nothing_is_resent(live_bot, emu, anon, settings):
    settings.LIVE_RESEND_AFTER_SECONDS = 0
    live_tick()  # one order goes through
    emu.fail("disconnect")
    live_tick()  # the next one does not get an answer
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.status == "paused" and "did not answer" in bot.last_tick_note
    live = anon.get("/api/health/").json()["checks"]["live_trading"]  # (no worker runs here: the rest is down)
    assert not live["ok"] and live["bots_paused"] == 1 and "binance" in live["error"]
    reconcile_live()
    reconcile_live(force=True)
    assert emu.count("/api/v3/order", "POST") == 2  # looked up, never sent again
    bot.refresh_from_db()
    assert bot.status == "paused" and bot.last_tick_note.startswith("paused: binance")
    emu.clear_faults()
    reconcile_live()
    first, order = live_orders(bot).order_by("pk")
    # the exchange answers again and does not have it: a stale decision is not sent again, it is closed
    assert first.status == "filled" and order.status == "rejected" and "not sent again" in order.reason
    assert emu.count("/api/v3/order", "POST") == 2 and len(emu.orders()) == 1
    bot.refresh_from_db()
    assert bot.status == "running"
    assert anon.get("/api/health/").json()["checks"]["live_trading"]["ok"] is True


def test_an_unknown_order_with_our_id_form_is_cancelled_and_a_foreign_one_reported(live_bot, emu):
    from risk.models import RiskEvent

    v = venue(live_bot)
    ours = v.submit(OrderRequest(client_order_id="zz-1700000000000:0", symbol="BTC/USDT", side="buy", type="limit",
                                 amount=D("0.1"), price=D("90")))
    foreign = v.submit(OrderRequest(client_order_id="manual_order_1", symbol="BTC/USDT", side="buy", type="limit",
                                    amount=D("0.1"), price=D("91")))
    summary = reconcile_live(force=True)
    assert [s["client_order_id"] for s in summary.cancelled_strays] == [ours.client_order_id]
    assert {o["clientOrderId"]: o["status"] for o in emu.orders()} == {ours.client_order_id: "CANCELED",
                                                                        foreign.client_order_id: "NEW"}
    assert RiskEvent.objects.filter(code="live_unknown_order").count() == 2


def test_a_balance_drift_beyond_our_books_halts_the_bot_and_alerts(live_bot, emu, alice, promotion_alerts):
    from risk.models import RiskEvent

    promotion_alerts(alice)  # a channel for alice...
    alice.notification_channels.update(events=["promotion", "risk"])
    emu.set_balance("USDT", "1000")  # more than the allocation (other money on the account): no drift
    assert reconcile_live(force=True).halted_for_drift == []
    assert Bot.objects.get(pk=live_bot.pk).status == "running"
    emu.set_balance("USDT", "120")  # our books say the bot holds 500 USDT on this account
    summary = reconcile_live(force=True)
    bot = Bot.objects.get(pk=live_bot.pk)
    assert summary.halted_for_drift == [bot.pk] and bot.status == "halted" and "drift" in bot.halt_reason
    assert "our books 500, the exchange 120" in bot.halt_reason
    assert RiskEvent.objects.filter(bot=bot, code="live_balance_drift").exists()
    alert = Outbox.objects.get(user=alice, event="risk", title=f"Bot {bot.name} halted")
    assert "holds less than the platform's books" in alert.text and alert.url_path == f"/bots/{bot.pk}/"
    assert bot.mode == "paper"  # halted live bots go back to paper


def test_a_resting_order_filled_later_is_taken_in_by_reconciliation(live_bot, emu):
    order, request = row_for(live_bot, type="limit", amount="0.1", price="95")
    live_report_record(bot_id=live_bot.pk, order_id=order.pk, report=venue(live_bot).submit(request))
    order.refresh_from_db()
    assert order.status == "open" and Bot.objects.get(pk=live_bot.pk).quote_reserved == D("9.5")
    emu.set_price("BTC/USDT", "94.90", "94.95")  # the market comes down through the limit
    reconcile_live()
    order.refresh_from_db()
    assert order.status == "filled" and Fill.objects.get(order=order).liquidity == "maker"
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.quote == D("490.5") and bot.quote_reserved == 0


def test_request_of_names_the_same_order(live_bot, emu):
    order, request = row_for(live_bot)
    assert request_of(order, symbol="BTC/USDT") == request


def test_our_client_id_form_is_recognised_and_a_foreign_one_is_not():
    from trading.execution.reconcile import is_our_client_id

    assert is_our_client_id(client_order_id(bot_id=42, step_key=1700000040000, n=3))
    assert is_our_client_id(client_order_id(bot_id=10**30, step_key="not a token", n=0))
    assert not is_our_client_id("manual_order_1") and not is_our_client_id("web_8f3a2b") and not is_our_client_id("")
