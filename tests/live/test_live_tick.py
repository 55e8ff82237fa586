"""The live path of the tick against the Binance emulator, through the real ccxt client."""

from decimal import Decimal

import pytest

from tests.emulator.binance import API_KEY
from tests.live.conftest import live_tick
from trading.engine.ids import client_order_id
from trading.execution.reconcile import reconcile_live
from trading.execution.routing import LiveNotAllowed, live_allowed, venue_for
from trading.execution.writer import wallet_of
from trading.models import Bot, Fill, Order
from trading.services.live_ticks import live_tick_run
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db


def live_orders(bot):
    return Order.objects.filter(bot=bot).exclude(client_id__startswith="rec:")


def test_a_live_bot_places_a_signed_order_with_our_client_id_and_records_the_fill(live_bot, emu):
    summary = live_tick()
    assert summary.submitted == 1
    order = live_orders(live_bot).get()
    received = emu.orders_received
    assert len(received) == 1
    sent = received[0]
    assert sent.signed and sent.api_key == API_KEY and sent.outcome == "accepted"
    assert sent.client_order_id == order.client_id and order.client_id.startswith(
        client_order_id(bot_id=live_bot.pk, step_key=1, n=0).split("-")[0] + "-")
    assert order.status == "filled" and order.exchange_order_id == str(sent.order_id)
    fill = Fill.objects.get(order=order)
    assert fill.exchange_trade_id and fill.price == Decimal("100.01")
    bot = Bot.objects.get(pk=live_bot.pk)
    # the live wallet is the allocation minus what the buy spent; the fee (0.1 %) came out of the base
    assert bot.quote == Decimal("500") - fill.price * fill.amount
    assert bot.base == fill.amount - fill.fee
    # the exchange agrees and reconciliation changes nothing, records no second fill
    reconcile_live(force=True)
    assert Fill.objects.filter(bot=bot).exclude(exchange_trade_id="").count() == 1
    assert Order.objects.get(pk=order.pk).status == "filled"


def test_the_same_tick_twice_sends_nothing_twice(live_bot, emu):
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    key = int(max(t.received_at for t in result.ticks) * 1000)
    live_tick_run(exchange="binance", tick_key=key)
    live_tick_run(exchange="binance", tick_key=key)
    assert len(emu.orders_received) == 1


def test_the_paper_tick_leaves_live_bots_alone(live_bot, emu):
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    tick_run(exchange="binance", tick_key=int(max(t.received_at for t in result.ticks) * 1000))
    assert not live_orders(live_bot).exists() and emu.orders_received == []


def test_with_live_trading_switched_off_nothing_reaches_the_private_endpoints(live_bot, emu, settings):
    before = len(emu.private_requests())
    settings.ENABLE_LIVE_TRADING = False
    bot = Bot.objects.get(pk=live_bot.pk)
    assert not live_allowed(bot).allowed
    with pytest.raises(LiveNotAllowed):
        venue_for(bot, wallet=wallet_of(bot), rules=None, cfg=None)
    live_tick()
    live_tick()
    reconcile_live(force=True)
    assert len(emu.private_requests()) == before and emu.orders_received == []
    assert not live_orders(bot).exists()
    assert "switched off" in Bot.objects.get(pk=bot.pk).last_tick_note


def test_a_kill_switch_stops_the_live_order_before_the_network(live_bot, emu, alice):
    from risk.services import kill_switch_engage

    kill_switch_engage(scope="user", user=alice, actor=alice, reason="test")
    live_tick()
    assert emu.orders_received == []


def test_with_live_trading_off_from_the_start_no_bot_goes_live_and_nothing_private_is_sent(
        alice, emu, make_eligible_bot, settings, api):
    from trading.promotion.services import LiveDisabled, promotion_request

    bot = make_eligible_bot(alice)  # its key was tested (one signed account read) while setting up
    settings.ENABLE_LIVE_TRADING = False
    before = len(emu.private_requests())
    with pytest.raises(LiveDisabled):
        promotion_request(bot=bot, actor=alice, allocation="500")
    client = api(alice)
    assert client.patch(f"/api/bots/{bot.pk}/", {"mode": "live"}, format="json").status_code < 500
    assert Bot.objects.get(pk=bot.pk).mode == "paper"
    assert client.post(f"/api/bots/{bot.pk}/promotion/", {"allocation": "500"}, format="json").status_code == 403
    assert client.post(f"/api/bots/{bot.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"},
                       format="json").status_code in (403, 404, 409)
    live_tick()
    reconcile_live(force=True)
    assert Bot.objects.get(pk=bot.pk).mode == "paper"
    assert len(emu.private_requests()) == before and emu.orders_received == []


def test_a_live_order_goes_through_the_same_risk_gate_as_paper_before_the_network(live_bot, emu):
    from risk.models import RiskEvent, RiskPolicy

    RiskPolicy.objects.create(scope="bot", bot=live_bot, max_position_quote=Decimal("1"))  # the DCA buys 10 USDT
    summary = live_tick()
    assert summary.refused == 1 and summary.submitted == 0
    assert emu.orders_received == [] and not live_orders(live_bot).exists()
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.last_tick_note.startswith("risk: ") and "position" in bot.last_tick_note.lower()
    assert RiskEvent.objects.filter(bot=bot).exists()  # refusals are recorded as on paper
