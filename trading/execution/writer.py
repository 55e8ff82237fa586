"""THE order writer: the one place that sets an Order's status, for paper and (later) live.

Every path that changes an order (the tick's fills and placements, a person's cancel, the bot's
cancel-all, a halt, the emergency stop, a flatten, and what a venue reports) goes through
`order_apply` (one order, in memory; the caller saves, the tick in bulk) or `orders_cancel_bulk`
(set-based, for the emergency stop). Both follow the order state table in
trading/execution/states.py: an illegal move (a filled order re-opened, a cancelled order filled)
raises `IllegalTransition` instead of silently rewriting history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from trading.engine.types import RestingOrder, Wallet
from trading.engine.wallet import with_reservations
from trading.events import events_on_commit, fill_json, order_json
from trading.execution.states import (
    CANCELLED,
    OPEN,
    PARTIALLY_FILLED,
    REJECTED,
    TERMINAL,
    TRANSITIONS,
    UNKNOWN,
    IllegalTransition,
    OrderProgress,
    OrderStateError,
    apply_report,
)
from trading.execution.types import VenueOrder, VenueTrade
from trading.models import Bot, Fill, Order

__all__ = ["IllegalTransition", "OrderStateError", "open_orders_of", "order_apply", "orders_cancel", "orders_cancel_bulk",
           "orders_cancel_open", "order_record", "wallet_into", "wallet_of"]

_UNSET = object()
# what a set-based cancel may touch: the table's sources of "cancelled", except an order whose outcome is
# unknown (it is looked up at its venue, never assumed cancelled)
BULK_CANCELLABLE = sorted(s for s, targets in TRANSITIONS.items() if CANCELLED in targets and s not in TERMINAL
                          and s != UNKNOWN)


def wallet_of(bot: Bot) -> Wallet:
    return Wallet(base=bot.base, quote=bot.quote, base_reserved=bot.base_reserved, quote_reserved=bot.quote_reserved)


def wallet_into(bot: Bot, wallet: Wallet) -> None:
    bot.base, bot.quote = wallet.base, wallet.quote
    bot.base_reserved, bot.quote_reserved = wallet.base_reserved, wallet.quote_reserved


def order_apply(order: Order, *, status: str, ts: datetime, filled: Decimal | None = None,
                average_price=_UNSET, reason: str | None = None, resting=_UNSET) -> bool:
    """Move one order (in memory) to `status` with its cumulative `filled` amount; True if anything changed.

    `reason` replaces the order's reason; `resting` (the engine's resting part, JSON) is cleared when the
    order leaves the book. A terminal status sets `closed_at`. The caller saves (one row or in bulk)."""
    if order.status != status or (filled is not None and filled != order.filled):
        # the table decides (raises IllegalTransition / InconsistentReport, both OrderStateError)
        apply_report(order, OrderProgress(status=status, filled=order.filled if filled is None else filled),
                     amount=order.amount or None)
    changed = False

    def put(name, value):
        nonlocal changed
        if getattr(order, name) != value:
            setattr(order, name, value)
            changed = True

    put("status", status)
    if filled is not None:
        put("filled", filled)
    if average_price is not _UNSET:
        put("average_price", average_price)
    if reason is not None:
        put("reason", reason[:200])
    if status in TERMINAL:
        put("resting", None)
        if order.closed_at is None:
            put("closed_at", ts)
    elif resting is not _UNSET:
        put("resting", resting)
    if changed:
        order.updated_at = ts
    return changed


def _ts(ms: int | None, default: datetime) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else default


def order_record(*, bot: Bot, report: VenueOrder, trades: tuple[VenueTrade, ...] | list[VenueTrade] = (),
                 order: Order | None = None, reason: str = "", live: bool = False,
                 fee_values: dict[str, tuple[Decimal | None, str]] | None = None) -> tuple[Order, list[Fill]]:
    """Apply what a venue reports to the bot's Order row and its Fills, in the caller's transaction.

    `order` is the row as we know it (None: a new order, created now with status `new` first, so its
    first move is checked like any other); `trades` the fills the venue reported with this answer
    (`report.trades` when not given) — each becomes one Fill. The status moves through the state table:
    a report the table refuses raises and nothing is written. Returns the saved order and the new fills.
    `live`: keep the exchange's order id on the order and its trade id on each fill (one fill per trade).
    `fee_values`: trade id -> (the fee valued in quote or None, a note), kept on each fill."""
    fee_values = fee_values or {}
    now = timezone.now()
    trades = tuple(trades) or report.trades
    if order is None:
        order = Order(bot=bot, client_id=report.client_order_id, side=report.side, type=report.type,
                      amount=report.amount if report.amount is not None else sum((t.amount for t in trades),
                                                                                  Decimal(0)),
                      price=report.price, status=Order.Status.NEW, reason=reason[:200],
                      created_at=_ts(report.created_ms, now), updated_at=now)
    status = PARTIALLY_FILLED if report.status == OPEN and report.filled > 0 else report.status
    why = f"{report.code}: {report.message}" if report.status in (REJECTED, CANCELLED) and report.message else None
    order_apply(order, status=status, ts=now, filled=report.filled, average_price=report.average_price,
                reason=f"{reason}: {why}" if why and reason else why)
    if live and report.exchange_order_id:
        order.exchange_order_id = report.exchange_order_id
    order.save()
    fills = [Fill.objects.create(
        bot=bot, order=order, side=t.side, price=t.price, amount=t.amount,
        fee=t.fees[0].amount if t.fees else Decimal(0), fee_currency=t.fees[0].currency if t.fees else "",
        slippage=t.slippage, reference_price=t.reference_price, liquidity=t.liquidity or Fill.Liquidity.TAKER,
        exchange_trade_id=t.trade_id if live else "", ts=_ts(t.ts_ms, now),
        fee_quote=fee_values.get(t.trade_id, (None, ""))[0], fee_note=fee_values.get(t.trade_id, (None, ""))[1][:200])
        for t in trades]
    events_on_commit([(bot.owner_id, {"type": "order", "order": order_json(order)}),
                      *[(bot.owner_id, {"type": "fill", "fill": fill_json(f)}) for f in fills]])
    return order, fills


# --- cancelling -------------------------------------------------------------------------------------

def open_orders_of(bot: Bot) -> list[Order]:
    """The bot's open orders, locked (the caller holds the bot row)."""
    return list(Order.objects.select_for_update(no_key=True).filter(bot=bot, status__in=Order.OPEN_STATUSES)
                .order_by("pk"))


def orders_cancel(*, bot: Bot, orders: list[Order], cancel: list[Order], reason: str) -> None:
    """Cancel `cancel` (a subset of the bot's locked open `orders`) and re-reserve for what stays open."""
    now = timezone.now()
    ids = {o.pk for o in cancel}
    for o in cancel:
        order_apply(o, status=Order.Status.CANCELLED, ts=now, reason=reason)
    Order.objects.bulk_update(cancel, ["status", "reason", "resting", "updated_at", "closed_at"])
    still_open = [o for o in orders if o.pk not in ids]
    wallet_into(bot, with_reservations(wallet_of(bot), [RestingOrder.from_json(o.resting)
                                                        for o in still_open if o.resting]))
    bot.save(update_fields=["base_reserved", "quote_reserved", "updated_at"])
    events_on_commit([(bot.owner_id, {"type": "order", "order": order_json(o)}) for o in cancel])


def orders_cancel_open(*, bot: Bot, reason: str, locked: bool = False) -> int:
    """Cancel every open order of the bot and release what they reserved. Returns how many."""
    with transaction.atomic():
        if not locked:
            bot = Bot.objects.select_for_update(no_key=True).get(pk=bot.pk)
        orders = open_orders_of(bot)
        if orders:
            orders_cancel(bot=bot, orders=orders, cancel=orders, reason=reason)
        elif bot.base_reserved or bot.quote_reserved:
            bot.base_reserved = bot.quote_reserved = Decimal(0)
            bot.save(update_fields=["base_reserved", "quote_reserved", "updated_at"])
    return len(orders)


def orders_cancel_bulk(*, bot_ids: list[int], reason: str) -> list[int]:
    """Cancel every open paper order of these (locked) bots in ONE statement; returns the order ids.

    The same move as `order_apply(status="cancelled")` per order, taken from the same table (only the
    states that may become cancelled are touched), set-based so a stop of many bots answers fast. The
    caller releases the bots' reservations (nothing stays open)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trading_order SET status = %s, reason = %s, resting = NULL, updated_at = %s, "
            "closed_at = %s WHERE bot_id = ANY(%s) AND status = ANY(%s) RETURNING id",
            [Order.Status.CANCELLED, reason[:200], now, now, bot_ids, BULK_CANCELLABLE])
        return [row[0] for row in cursor.fetchall()]
