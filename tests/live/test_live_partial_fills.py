"""Partial fills on the exchange: an order that fills in several trades, each recorded once as its own Fill, the
order moving open -> partially_filled -> filled (or cancelled with its filled part kept) through the order
writer, and the live wallet equal to what the exchange's account shows. Against the emulator through ccxt."""

from decimal import Decimal

import pytest
from django.db import transaction

from tests.live.conftest import live_tick
from trading.engine.ids import client_order_id
from trading.execution.ccxt_venue import CcxtVenue
from trading.execution.live_orders import (
    live_order_claim,
    live_order_open,
    live_orders_cancel,
    live_report_take_in,
)
from trading.execution.reconcile import reconcile_live
from trading.execution.routing import live_key_for
from trading.execution.types import OrderRequest
from trading.models import Bot, Fill, Order

pytestmark = pytest.mark.django_db
D = Decimal
FEE = D("0.001")


def venue(bot) -> CcxtVenue:
    return CcxtVenue(key=live_key_for(bot))


def sent_order(bot, *, side="buy", type="limit", amount="0.3", price="95", step=1) -> Order:
    """An order decided, claimed and sent the way the live tick does it, its answer recorded."""
    request = OrderRequest(client_order_id=client_order_id(bot_id=bot.pk, step_key=step, n=0), symbol=bot.symbol,
                           side=side, type=type, amount=D(amount), price=D(price) if price else None)
    with transaction.atomic():
        order = live_order_open(bot=Bot.objects.get(pk=bot.pk), request=request)
    assert live_order_claim(order=order)
    v = venue(bot)
    live_report_take_in(venue=v, bot=Bot.objects.get(pk=bot.pk), order_id=order.pk, report=v.submit(request))
    order.refresh_from_db()
    return order


def exchange_moves(emu) -> tuple[Decimal, Decimal]:
    """How much the account's BTC and USDT (free + locked) moved from the emulator's starting balances."""
    btc, usdt = sum(emu.balance("BTC")), sum(emu.balance("USDT"))
    return btc - D("0.5"), usdt - D("10000")


def assert_wallet_is_the_exchanges(bot, emu):
    bot = Bot.objects.get(pk=bot.pk)
    btc, usdt = exchange_moves(emu)
    assert bot.base == btc and bot.quote - D("500") == usdt  # the allocation was 500 USDT, nothing held before


def fills_of(order):
    return list(Fill.objects.filter(order=order).order_by("exchange_trade_id"))


def test_a_resting_limit_order_fills_in_several_trades_as_the_market_trades_through_it(live_bot, emu):
    order = sent_order(live_bot)
    assert order.status == "open" and Bot.objects.get(pk=live_bot.pk).quote_reserved == D("28.5")

    first = emu.trade("BTC/USDT", "95", "0.1")  # someone sells 0.1 at 95: our bid takes it all
    reconcile_live()
    order.refresh_from_db()
    assert order.status == "partially_filled" and order.filled == D("0.1")
    assert [f.exchange_trade_id for f in fills_of(order)] == [str(t["id"]) for t in first]
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.quote_reserved == D("19.0") and bot.quote == D("490.5") and bot.base == D("0.1") - D("0.1") * FEE
    assert_wallet_is_the_exchanges(live_bot, emu)

    emu.trade("BTC/USDT", "94.99", "0.15")
    reconcile_live()
    order.refresh_from_db()
    assert order.status == "partially_filled" and order.filled == D("0.25")

    emu.trade("BTC/USDT", "95", "1")  # more than is left: only 0.05 of it is ours
    reconcile_live()
    order.refresh_from_db()
    fills = fills_of(order)
    assert order.status == "filled" and order.filled == D("0.3") and order.closed_at is not None
    assert [f.amount for f in fills] == [D("0.1"), D("0.15"), D("0.05")]
    assert {f.price for f in fills} == {D("95")} and {f.liquidity for f in fills} == {"maker"}
    assert [f.fee for f in fills] == [f.amount * FEE for f in fills] and {f.fee_currency for f in fills} == {"BTC"}
    on_exchange = sorted(str(t["id"]) for t in emu._trades)
    assert sorted(f.exchange_trade_id for f in fills) == on_exchange and len(set(on_exchange)) == 3
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.quote_reserved == 0 and bot.quote == D("471.5")
    assert_wallet_is_the_exchanges(live_bot, emu)

    reconcile_live(force=True)
    reconcile_live(force=True)
    assert Fill.objects.filter(order=order).count() == 3  # each trade recorded once, however often it is seen
    assert_wallet_is_the_exchanges(live_bot, emu)


def test_a_market_order_that_walks_the_book_is_recorded_trade_by_trade(live_bot, emu):
    emu.set_depth("BTC/USDT", "0.04")  # 0.04 BTC per price level
    summary = live_tick()  # the DCA bot buys 10 USDT worth
    assert summary.submitted == 1
    order = Order.objects.filter(bot=live_bot).exclude(client_id__startswith="rec:").get()
    fills = list(Fill.objects.filter(order=order).order_by("price"))
    placed = emu.orders(order.client_id)[0]
    assert order.status == "filled" and order.filled == D(placed["executedQty"]) and len(fills) == 3
    assert [f.price for f in fills] == [D("100.01"), D("100.02"), D("100.03")]  # one tick worse per level
    assert [f.amount for f in fills[:2]] == [D("0.04"), D("0.04")] and sum(f.amount for f in fills) == order.filled
    assert len({f.exchange_trade_id for f in fills}) == 3
    assert all(f.fee == f.amount * FEE and f.liquidity == "taker" for f in fills)
    vwap = sum(f.price * f.amount for f in fills) / order.filled
    assert order.average_price == vwap.quantize(D("1e-18"))  # the volume-weighted price of the three trades
    assert_wallet_is_the_exchanges(live_bot, emu)
    reconcile_live(force=True)  # the same trades read again from the account's history
    assert Fill.objects.filter(order=order).count() == 3
    assert_wallet_is_the_exchanges(live_bot, emu)


def test_a_partial_fill_is_found_after_a_lost_answer(live_bot, emu):
    emu.set_depth("BTC/USDT", "0.1")
    # a limit buy at 100.02 takes 0.1 at 100.01 and 0.1 at 100.02 and rests 0.1; the answer never comes back
    emu.fail("late_answer", path="/api/v3/order", times=1, seconds=4)
    order = sent_order(live_bot, amount="0.3", price="100.02")
    assert order.status == "unknown" and not Fill.objects.filter(order=order).exists()
    assert emu.orders(order.client_id)[0]["status"] == "PARTIALLY_FILLED"
    emu.clear_faults()

    reconcile_live()
    order.refresh_from_db()
    fills = fills_of(order)
    assert order.status == "partially_filled" and order.filled == D("0.2") and order.exchange_order_id
    assert sorted(f.price for f in fills) == [D("100.01"), D("100.02")]
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.quote_reserved == D("0.1") * D("100.02")
    assert_wallet_is_the_exchanges(live_bot, emu)

    emu.trade("BTC/USDT", "100", "0.5")
    reconcile_live()
    order.refresh_from_db()
    assert order.status == "filled" and order.filled == D("0.3") and len(fills_of(order)) == 3
    assert emu.count("/api/v3/order", "POST") == 1  # looked up, never sent again
    assert_wallet_is_the_exchanges(live_bot, emu)


def test_cancelling_a_partially_filled_order_keeps_the_filled_part_and_cancels_the_rest(live_bot, emu):
    order = sent_order(live_bot)
    emu.trade("BTC/USDT", "95", "0.1")  # filled in part; we have not looked yet
    report = live_orders_cancel(bot=Bot.objects.get(pk=live_bot.pk), reason="owner cancelled")
    assert [c["order"] for c in report.cancelled] == [order.client_id] and report.failed == []
    order.refresh_from_db()
    assert order.status == "cancelled" and order.filled == D("0.1")
    assert [f.amount for f in fills_of(order)] == [D("0.1")]  # the filled part is taken in with the cancel
    bot = Bot.objects.get(pk=live_bot.pk)
    assert bot.quote_reserved == 0 and bot.quote == D("490.5")
    assert emu.balance("USDT") == (D("9990.5"), D("0"))  # the exchange released the rest
    assert emu.orders(order.client_id)[0]["status"] == "CANCELED"
    assert_wallet_is_the_exchanges(live_bot, emu)
    reconcile_live(force=True)
    assert Fill.objects.filter(order=order).count() == 1


def test_a_cancelled_order_whose_filled_part_could_not_be_read_is_taken_in_by_reconciliation(live_bot, emu):
    order = sent_order(live_bot)
    emu.trade("BTC/USDT", "95", "0.1")
    emu.fail("server_error", path="/api/v3/myTrades", times=1)
    live_orders_cancel(bot=Bot.objects.get(pk=live_bot.pk), reason="owner cancelled")
    order.refresh_from_db()
    assert order.status == "cancelled" and order.filled == D("0.1") and not fills_of(order)
    reconcile_live(force=True)  # no order of the bot is open any more: it still takes the owed trades in
    assert [f.amount for f in fills_of(order)] == [D("0.1")]
    assert_wallet_is_the_exchanges(live_bot, emu)
