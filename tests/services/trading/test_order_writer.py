"""The one order writer: every status change follows the order state table; the emergency stop's bulk
cancel touches only what may still be cancelled, and never an order whose outcome is unknown."""

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.services.trading.test_bot_services import make_bot
from trading.execution.safety import emergency_stop
from trading.execution.writer import IllegalTransition, order_apply, orders_cancel_bulk
from trading.models import Order


def _order(bot, client_id, status, filled="0"):
    return Order.objects.create(bot=bot, client_id=client_id, side="buy", type="limit", amount=Decimal(1),
                                price=Decimal(90), status=status, filled=Decimal(filled))


def test_a_filled_order_cannot_be_reopened_or_cancelled(alice):
    order = _order(make_bot(alice), "1:0", "filled", filled="1")
    for status in ("open", "cancelled", "partially_filled"):
        with pytest.raises(IllegalTransition, match="cannot go from filled to"):
            order_apply(order, status=status, ts=timezone.now())
    assert order.status == "filled"


def test_apply_sets_closed_at_and_clears_the_resting_part_on_a_terminal_state(alice):
    order = _order(make_bot(alice), "1:0", "open")
    order.resting = {"id": "1:0"}
    now = timezone.now()
    assert order_apply(order, status="partially_filled", ts=now, filled=Decimal("0.4"), resting={"id": "1:0"})
    assert order.closed_at is None and order.updated_at == now
    assert order_apply(order, status="filled", ts=now, filled=Decimal(1), average_price=Decimal(90))
    assert (order.closed_at, order.resting, order.filled) == (now, None, Decimal(1))
    assert not order_apply(order, status="filled", ts=now, filled=Decimal(1))  # a repeated report changes nothing


def test_the_bulk_cancel_spares_finished_and_unknown_orders(alice):
    bot = make_bot(alice)
    live = {s: _order(bot, f"1:{i}", s, filled="0.5" if s in ("partially_filled", "filled") else "0")
            for i, s in enumerate(["new", "open", "partially_filled", "filled", "rejected", "unknown"])}
    cancelled = orders_cancel_bulk(bot_ids=[bot.pk], reason="stop")
    assert sorted(cancelled) == sorted(live[s].pk for s in ("new", "open", "partially_filled"))
    after = {s: Order.objects.get(pk=o.pk) for s, o in live.items()}
    assert {s: o.status for s, o in after.items()} == {
        "new": "cancelled", "open": "cancelled", "partially_filled": "cancelled", "filled": "filled",
        "rejected": "rejected", "unknown": "unknown"}
    assert after["partially_filled"].filled == Decimal("0.5")  # what was filled stays filled


def test_the_emergency_stop_cancels_through_the_same_table(alice):
    bot = make_bot(alice)
    bot.status = "running"
    bot.save(update_fields=["status"])
    _order(bot, "1:0", "open")
    _order(bot, "1:1", "filled", filled="1")
    result = emergency_stop(actor=alice)
    assert result.orders_cancelled == 1
    assert sorted(Order.objects.filter(bot=bot).values_list("status", flat=True)) == ["cancelled", "filled"]


def test_the_model_counts_as_open_exactly_what_the_table_says_may_still_trade():
    from trading.execution.states import LIVE

    assert set(Order.OPEN_STATUSES) == LIVE
    assert set(Order.Status.values) == {"new", "open", "partially_filled", "filled", "cancelled", "rejected",
                                        "unknown"}
