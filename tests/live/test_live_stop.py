"""Emergency stop, halt and demotion of live bots: the switch first, then every open live order is cancelled
ON THE EXCHANGE, and the answer says which were cancelled and which could not be (with the reason)."""

from decimal import Decimal

import pytest

from tests.live.test_live_faults import row_for, venue
from trading.execution.live_orders import live_order_claim, live_report_record
from trading.execution.safety import bot_halt, emergency_stop
from trading.models import Bot, Order
from trading.promotion.demotion import promotion_demote

pytestmark = pytest.mark.django_db
D = Decimal


def resting(bot, *, price="95", step=1) -> Order:
    order, request = row_for(bot, type="limit", amount="0.1", price=price, step=step)
    live_report_record(bot_id=bot.pk, order_id=order.pk, report=venue(bot).submit(request))
    order.refresh_from_db()
    assert order.status == "open"
    return order


def test_the_emergency_stop_cancels_open_live_orders_on_the_exchange_and_says_so(live_bot, emu, alice, api):
    order = resting(live_bot)
    body = api(alice).post("/api/system/emergency-stop/", {"scope": "user"}, format="json").json()
    assert body["bots_halted"] == [live_bot.pk]
    assert body["live_orders_cancelled"] == [{"bot": live_bot.pk, "order": order.client_id,
                                              "exchange_order_id": order.exchange_order_id}]
    assert body["live_orders_failed"] == [] and body["live_orders_pending"] == 0
    assert emu.orders(order.client_id)[0]["status"] == "CANCELED"
    assert emu.count("/api/v3/order", "DELETE") == 1
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert Bot.objects.get(pk=live_bot.pk).quote_reserved == 0


def test_an_order_the_exchange_cannot_cancel_is_reported_with_the_reason(live_bot, emu, alice):
    order = resting(live_bot)
    emu.fail("server_error", path="/api/v3/order")
    result = emergency_stop(actor=alice)
    assert result.live_orders_cancelled == []
    assert [f["order"] for f in result.live_orders_failed] == [order.client_id]
    assert "Binance" in result.live_orders_failed[0]["reason"] and result.live_orders_pending == 1
    order.refresh_from_db()
    assert order.status == "open"  # still on the exchange: never marked cancelled on our side
    assert Bot.objects.get(pk=live_bot.pk).status == "halted"


def test_nothing_is_sent_after_the_stop_returns(live_bot, emu, alice):
    order, _request = row_for(live_bot, step=7)  # claimed before the stop: it may be on its way
    unsent = Order.objects.get(pk=order.pk)
    Order.objects.filter(pk=order.pk).update(attempts=0)  # ... or not claimed yet
    emergency_stop(actor=alice)
    unsent.refresh_from_db()
    assert unsent.status == "cancelled"
    assert not live_order_claim(order=unsent)
    assert emu.orders_received == []


def test_a_halt_cancels_the_live_orders_once_it_is_committed(live_bot, emu, alice,
                                                            django_capture_on_commit_callbacks):
    order = resting(live_bot)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        bot_halt(bot=Bot.objects.get(pk=live_bot.pk), actor=alice, reason="circuit breaker test")
    assert emu.count("/api/v3/order", "DELETE") == 0  # no exchange call inside the halt's transaction
    for callback in callbacks:
        callback()
    order.refresh_from_db()
    assert order.status == "cancelled" and emu.orders(order.client_id)[0]["status"] == "CANCELED"


def test_demotion_cancels_open_live_orders_first_and_keeps_the_position(live_bot, emu, alice, api):
    order = resting(live_bot)
    Bot.objects.filter(pk=live_bot.pk).update(base=D("0.2"))
    response = api(alice).post(f"/api/bots/{live_bot.pk}/demote/", {}, format="json")
    assert response.status_code == 200, response.content
    assert emu.orders(order.client_id)[0]["status"] == "CANCELED"
    order.refresh_from_db()
    bot = Bot.objects.get(pk=live_bot.pk)
    assert order.status == "cancelled" and bot.mode == "paper" and bot.base == D("0.2")


def test_demotion_says_which_orders_could_not_be_cancelled(live_bot, emu, alice):
    order = resting(live_bot)
    emu.fail("disconnect", path="/api/v3/order")
    result = promotion_demote(bot=Bot.objects.get(pk=live_bot.pk), actor=alice)
    assert result.orders.cancelled == [] and result.orders.failed[0]["order"] == order.client_id
    assert "Binance" in result.orders.failed[0]["reason"]


def test_stopping_a_live_bot_cancels_its_orders_on_the_exchange(live_bot, emu, alice):
    from trading.services.bots import bot_stop

    order = resting(live_bot)
    bot_stop(bot=Bot.objects.get(pk=live_bot.pk), actor=alice)
    order.refresh_from_db()
    assert order.status == "cancelled" and emu.orders(order.client_id)[0]["status"] == "CANCELED"


def test_archiving_a_live_bot_cancels_its_orders_on_the_exchange(live_bot, emu, alice):
    from trading.services.bots import bot_archive

    order = resting(live_bot)
    bot_archive(bot=Bot.objects.get(pk=live_bot.pk), actor=alice)
    order.refresh_from_db()
    assert order.status == "cancelled" and emu.orders(order.client_id)[0]["status"] == "CANCELED"


def test_a_halted_live_bot_goes_back_to_paper_with_its_promotion_ended(live_bot, emu, alice):
    from trading.execution.routing import live_allowed
    from trading.models import PromotionRequest

    order = resting(live_bot)
    emergency_stop(actor=alice, flatten=True)
    bot = Bot.objects.get(pk=live_bot.pk)
    assert (bot.status, bot.mode) == ("halted", "paper")
    promotion = PromotionRequest.objects.filter(bot=bot).order_by("-pk").first()
    assert promotion.status == "demoted" and promotion.ended_reason.startswith("automatic:")
    assert not live_allowed(bot).allowed
    assert emu.orders(order.client_id)[0]["status"] == "CANCELED"  # cancelled with the key it traded with
    assert not Order.objects.filter(bot=bot, client_id__startswith="f").exists()  # never sold on paper


def test_a_circuit_breaker_on_a_live_bot_demotes_it(live_bot, emu, alice):
    from django.db import transaction

    from risk.checks import Decision
    from trading.execution.safety import breach_halt
    with transaction.atomic():
        breach_halt(bot=Bot.objects.select_for_update().get(pk=live_bot.pk),
                    decision=Decision(False, "daily_loss", "Daily loss 6% reached the limit of 5%"))
    bot = Bot.objects.get(pk=live_bot.pk)
    assert (bot.status, bot.mode) == ("halted", "paper")
