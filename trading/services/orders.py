"""Orders a person acts on outside the tick: cancelling a resting limit order (page, API).

Order status is set by the order writer (trading/execution/writer.py) only; paper fills outside the tick
(flattening a position) are in trading/execution/paper_orders.py.
"""

from __future__ import annotations

from django.db import transaction

from accounts.audit import audit_record
from config.api import DomainError
from trading.execution.writer import open_orders_of, orders_cancel
from trading.models import Bot, Order


class OrderNotOpen(DomainError):
    code = "order_not_open"
    status = 409


class OrderNotCancellable(DomainError):
    code = "order_not_cancellable"
    status = 409


# --- cancelling -------------------------------------------------------------------------------

def order_cancel(*, order: Order, actor, reason: str = "cancelled by user", request=None) -> Order:
    """Cancel a resting limit order; its reserved funds go back to the free balance."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).get(pk=order.bot_id)
        orders = open_orders_of(bot)
        target = next((o for o in orders if o.pk == order.pk), None)
        if target is None:
            current = Order.objects.get(pk=order.pk)
            raise OrderNotOpen(f"This order is {current.get_status_display().lower()}: only open orders can be "
                               f"cancelled.")
        if target.type != Order.Type.LIMIT or not target.resting:
            raise OrderNotCancellable("Only resting limit orders can be cancelled.")
        orders_cancel(bot=bot, orders=orders, cancel=[target], reason=reason)
        audit_record(action="order.cancel", actor=actor, target=f"order:{target.pk}", request=request,
                     details={"bot": bot.pk, "reason": reason})
    order.__dict__.update({k: v for k, v in target.__dict__.items() if not k.startswith("_")})
    return order
