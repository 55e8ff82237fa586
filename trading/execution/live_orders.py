"""Live orders in the database, around the network calls the ccxt venue makes (never inside a transaction).

The life of a live order:
1. `live_order_open` (inside the tick's transaction, after the risk gate): the Order row with status `new`
   and `attempts` 0, BEFORE anything is sent.
2. `live_order_claim` (a short transaction of its own): attempts 0 -> 1 only while the row is still `new`, the
   bot still running and no kill switch engaged (the switch rows are locked FOR SHARE, so an emergency stop
   waits for the claim and every claim after the stop sees the switch). Only a claimed order is sent.
3. the venue call, outside any transaction;
4. `live_report_record`: what the exchange said, through the order writer (`order_record`); each exchange
   trade becomes one Fill (unique exchange trade id: a trade seen twice is recorded once) and moves the
   bot's live wallet. An order fills in as many trades as the exchange makes (partial fills: open ->
   partially_filled -> filled, or cancelled with its filled part kept).

Fees: a fee in the base or the quote moves the live wallet (it is what the exchange took from those
balances). A fee in a third currency (BNB, for an account that pays fees in BNB) is taken from the account's
BNB, not from the bot's base or quote, so the wallet stays equal to the exchange's figures: the fill keeps the
fee with its currency and its value in quote (`fee_quote`, at the BNB/quote price when it filled, looked up
by `live_report_take_in` before the transaction), and the bot's P&L counts it (trading.selectors), and so do the
daily-loss and drawdown breakers (the running total `live_fees_outside`, taken off the equity they check). A fee
that could not be valued keeps `fee_quote` empty and says why (`fee_note`); it is never dropped.

`live_orders_cancel` cancels a bot's open live orders on the exchange (stop, halt, demotion) and says which
could not be cancelled, with the reason; the bot's part of that report is kept as a `live_orders_cancel` risk
event (the bot page shows the latest one: trading.selectors.live_cancel_report_last).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from exchanges.adapter import ExchangeError
from risk.models import RiskEvent
from risk.services import risk_event_record, switches_lock_for_order
from trading.execution.routing import venue_for_cancel
from trading.execution.states import CANCELLED, LIVE, NEW, UNKNOWN
from trading.execution.types import OrderRequest, VenueOrder, VenueTrade
from trading.execution.venue import OrderNotFound, VenueError
from trading.execution.writer import order_apply, order_record
from trading.models import Bot, Fill, Order

log = logging.getLogger(__name__)
ZERO = Decimal(0)


def live_order_open(*, bot: Bot, request: OrderRequest, tick_key: int | None = None) -> Order:
    """The order row (status `new`) for a request the risk gate allowed, in the caller's transaction."""
    report = VenueOrder(client_order_id=request.client_order_id, exchange_order_id=None, symbol=request.symbol,
                        side=request.side, type=request.type, status=NEW,
                        amount=request.amount if request.amount is not None else ZERO, price=request.price,
                        created_ms=int(time.time() * 1000))
    order, _ = order_record(bot=bot, report=report, reason=request.reason)
    if tick_key is not None:
        Order.objects.filter(pk=order.pk).update(tick_key=tick_key)
    return order


def live_order_claim(*, order: Order) -> bool:
    """Take the right to send this order once (see the module's docstring). False: do not send it."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).only("status", "mode", "owner_id").get(pk=order.bot_id)
        engaged = [k for k, on in switches_lock_for_order(user_id=bot.owner_id) if on]
        if engaged or bot.status != Bot.Status.RUNNING or bot.mode != Bot.Mode.LIVE:
            return False
        return bool(Order.objects.filter(pk=order.pk, status=NEW, attempts=0)
                    .update(attempts=F("attempts") + 1, updated_at=timezone.now()))


def live_order_claim_resend(*, order: Order) -> bool:
    """Take the right to send an order AGAIN, with the same client id, after a lookup said the exchange does
    not have it (reconciliation); at most once more, never while a kill switch is engaged."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).only("status", "mode", "owner_id").get(pk=order.bot_id)
        engaged = [k for k, on in switches_lock_for_order(user_id=bot.owner_id) if on]
        if engaged or bot.status != Bot.Status.RUNNING or bot.mode != Bot.Mode.LIVE:
            return False
        return bool(Order.objects.filter(pk=order.pk, status__in=[NEW, UNKNOWN], attempts=order.attempts)
                    .update(attempts=F("attempts") + 1, updated_at=timezone.now()))


def request_of(order: Order, *, symbol: str) -> OrderRequest:
    """The OrderRequest an order row was sent (or is to be sent) as: a resend names the same order."""
    return OrderRequest(client_order_id=order.client_id, symbol=symbol, side=order.side, type=order.type,
                        amount=order.amount, price=order.price if order.type == Order.Type.LIMIT else None,
                        reason=order.reason)


def _currencies(bot: Bot) -> tuple[str, str]:
    base, _, quote = bot.symbol.partition("/")
    return base, quote.split(":")[0]


def _wallet_move(bot: Bot, fill: Fill) -> None:
    base_ccy, quote_ccy = _currencies(bot)
    cost = fill.price * fill.amount
    fee_base = fill.fee if fill.fee_currency == base_ccy else ZERO
    fee_quote = fill.fee if fill.fee_currency == quote_ccy else ZERO
    if fill.side == "buy":
        bot.base += fill.amount - fee_base
        bot.quote -= cost + fee_quote
    else:
        bot.base -= fill.amount + fee_base
        bot.quote += cost - fee_quote


def _reserve(bot: Bot) -> None:
    """What the bot's orders still on (or maybe on) the exchange hold: open limit orders' remainders, and
    the whole of an order whose fate is not known yet."""
    quote = base = ZERO
    for o in Order.objects.filter(bot=bot, status__in=list(LIVE)).only("side", "type", "amount", "filled", "price"):
        remaining = max(o.amount - o.filled, ZERO)
        if o.side == "buy":
            price = o.price if o.price is not None else (bot.last_price or ZERO)
            quote += remaining * price
        else:
            base += remaining
    bot.quote_reserved, bot.base_reserved = max(quote, ZERO), max(base, ZERO)


def _fee_values(bot: Bot, trades: list[VenueTrade], third: dict) -> dict[str, tuple[Decimal | None, str]]:
    base_ccy, quote_ccy = _currencies(bot)
    out = {}
    for t in trades:
        fee = t.fees[0] if t.fees else None
        if fee is None or fee.currency in ("", quote_ccy):
            out[t.trade_id] = (fee.amount if fee else ZERO, "")
        elif fee.currency == base_ccy:
            out[t.trade_id] = (fee.amount * t.price, "")
        else:
            out[t.trade_id] = third.get(t.trade_id) or (None, "not valued: no price was looked up")
    return out


def live_report_take_in(*, venue, bot: Bot, order_id: int, report: VenueOrder,
                        trades: tuple[VenueTrade, ...] | list[VenueTrade] = (),
                        fetch_trades: bool = False) -> tuple[Order, list[Fill]]:
    """`live_report_record` with the fees of third-currency trades valued first (network, so outside any
    transaction). `fetch_trades`: when the answer says the order filled more than its recorded fills (the
    cancel of a partially filled order), that order's trades are fetched and recorded now."""
    trades = [t for t in (tuple(trades) or report.trades) if t.trade_id]
    base_ccy, quote_ccy = _currencies(bot)
    third = venue.fee_values(trades, base=base_ccy, quote=quote_ccy) if trades and hasattr(venue, "fee_values") \
        else {}
    order, fills = live_report_record(bot_id=bot.pk, order_id=order_id, report=report, trades=trades,
                                      fee_values=third)
    if fetch_trades and order.exchange_order_id and hasattr(venue, "order_trades"):
        taken = sum(Fill.objects.filter(order=order).values_list("amount", flat=True), ZERO)
        if order.filled > taken:
            more = venue.order_trades(symbol=bot.symbol, exchange_order_id=order.exchange_order_id)
            if more:
                order, extra = live_report_take_in(venue=venue, bot=bot, order_id=order_id, report=report,
                                                   trades=more)
                fills = [*fills, *extra]
    return order, fills


def live_report_record(*, bot_id: int, order_id: int, report: VenueOrder,
                       trades: tuple[VenueTrade, ...] | list[VenueTrade] = (),
                       fee_values: dict | None = None) -> tuple[Order, list[Fill]]:
    """Record what the exchange says about one of our orders, and its trades (each once, ever).
    `fee_values`: trade id -> (fee in quote, note) for fees in a third currency (see the module docstring)."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).get(pk=bot_id)
        order = Order.objects.select_for_update(no_key=True).get(pk=order_id, bot=bot)
        trades = [t for t in (tuple(trades) or report.trades) if t.trade_id]
        seen = set(Fill.objects.filter(bot=bot, exchange_trade_id__in=[t.trade_id for t in trades])
                   .values_list("exchange_trade_id", flat=True))
        new_trades = [t for t in trades if t.trade_id not in seen]
        if report.exchange_order_id and order.exchange_order_id != report.exchange_order_id:
            order.exchange_order_id = report.exchange_order_id
        if report.status == UNKNOWN and order.status not in (NEW, UNKNOWN):
            report = replace(report, status=order.status, filled=order.filled)
        if report.filled < order.filled:  # an older answer than what we have: keep ours
            report = replace(report, status=order.status, filled=order.filled)
        order, fills = order_record(bot=bot, report=report, trades=new_trades or [], order=order,
                                    reason=order.reason, live=True,
                                    fee_values=_fee_values(bot, new_trades, fee_values or {}))
        for f in fills:
            _wallet_move(bot, f)
        if fills:
            bot.last_price = fills[-1].price
        _reserve(bot)
        changed = ["base", "quote", "base_reserved", "quote_reserved", "last_price", "updated_at"]
        if _fees_outside_add(bot, fills):
            changed.append("state")
        bot.save(update_fields=changed)
    return order, fills


def _fees_outside_add(bot: Bot, fills: list[Fill]) -> bool:
    """Add the quote value of these fills' third-currency fees (BNB) to the running total of the bot's live
    period (`state["live"]["fees_outside"]`, restarted by each promotion): they are paid outside the live
    wallet, and the risk checks take them off its equity (live_fees_outside). A fee not valued adds nothing."""
    base_ccy, quote_ccy = _currencies(bot)
    added = sum((f.fee_quote for f in fills if f.fee_quote is not None and f.fee_currency not in ("", base_ccy,
                                                                                                  quote_ccy)), ZERO)
    if not added:
        return False
    state = dict(bot.state or {})
    live = dict(state.get("live") or {})
    live["fees_outside"] = str(Decimal(live.get("fees_outside") or 0) + added)
    state["live"] = live
    bot.state = state
    return True


def live_fees_outside(bot: Bot) -> Decimal:
    """The quote value of the fees a live bot paid in a third currency (BNB) since its promotion: what its
    equity for the daily-loss and drawdown checks is short of `quote + base * price`. 0 for a paper bot."""
    if bot.mode != Bot.Mode.LIVE:
        return ZERO
    return Decimal(((bot.state or {}).get("live") or {}).get("fees_outside") or 0)


# --- cancelling on the exchange ----------------------------------------------------------------------

@dataclass
class LiveCancelReport:
    cancelled: list[dict] = field(default_factory=list)  # {"bot", "order", "exchange_order_id"}
    failed: list[dict] = field(default_factory=list)  # {"bot", "order", "reason"}


def live_orders_unsent_cancel(*, bot_ids: list[int], reason: str) -> int:
    """Cancel (in the database) live orders that were never sent (`new`, attempts 0): no claim can send them
    after this. The caller holds the bots' rows."""
    now = timezone.now()
    rows = list(Order.objects.select_for_update(no_key=True).filter(bot_id__in=bot_ids, status=NEW, attempts=0))
    for o in rows:
        order_apply(o, status=CANCELLED, ts=now, reason=reason)
    Order.objects.bulk_update(rows, ["status", "reason", "resting", "updated_at", "closed_at"])
    return len(rows)


def live_orders_cancel(*, bot: Bot, reason: str, report: LiveCancelReport | None = None) -> LiveCancelReport:
    """Cancel every open live order of this bot on the exchange, outside any transaction; record each
    outcome through the order writer. An order the exchange cannot cancel (or cannot be reached for) stays
    as it is and is reported with the reason; reconciliation keeps looking at it."""
    report = report if report is not None else LiveCancelReport()
    live_orders_unsent_cancel_now(bot=bot, reason=reason)
    orders = list(Order.objects.filter(bot=bot, status__in=list(LIVE)).order_by("pk"))
    if not orders:
        return report
    mine = LiveCancelReport()  # this bot's part, kept for its page
    try:
        _cancel_each(bot, orders, mine)
    finally:
        report.cancelled.extend(mine.cancelled)
        report.failed.extend(mine.failed)
        _report_keep(bot, mine, reason)
    return report


def _report_keep(bot: Bot, mine: LiveCancelReport, reason: str) -> None:
    try:
        risk_event_record(
            code="live_orders_cancel", bot=bot, severity=RiskEvent.CRITICAL if mine.failed else RiskEvent.INFO,
            message=(f"{bot.name}: {len(mine.cancelled)} live order(s) cancelled on the exchange, "
                     f"{len(mine.failed)} could not be"),
            details={"cause": reason[:200], "cancelled": mine.cancelled, "failed": mine.failed})
    except Exception:  # noqa: BLE001 - the cancels are done; the caller's answer still says what happened
        log.exception("keeping the cancel report of bot %s failed", bot.pk)


def _cancel_each(bot: Bot, orders: list[Order], report: LiveCancelReport) -> None:
    venue = venue_for_cancel(bot)
    for o in orders:
        who = {"bot": bot.pk, "order": o.client_id, "exchange_order_id": o.exchange_order_id}
        if venue is None:
            report.failed.append({**who, "reason": "the bot's exchange key is gone: cancel it on the exchange"})
            continue
        try:
            after = venue.cancel(symbol=bot.symbol, client_order_id=o.client_id,
                                 exchange_order_id=o.exchange_order_id or None)
        except OrderNotFound:
            report.failed.append({**who, "reason": "the exchange does not have this order (yet): it was being "
                                                   "sent; reconciliation cancels it if it arrives"})
            continue
        except (ExchangeError, VenueError) as exc:
            report.failed.append({**who, "reason": exc.message if isinstance(exc, ExchangeError) else str(exc)})
            continue
        try:
            live_report_take_in(venue=venue, bot=bot, order_id=o.pk, report=after, fetch_trades=True)
        except ExchangeError as exc:  # the cancel is recorded; reconciliation takes the filled part's trades in
            log.warning("taking in the trades of cancelled order %s failed: %s", o.pk, exc.message)
        except Exception as exc:  # noqa: BLE001 - the exchange side is done; say what we could not record
            log.exception("recording the cancel of order %s failed", o.pk)
            report.failed.append({**who, "reason": f"cancel sent, recording failed: {exc.__class__.__name__}"})
            continue
        if after.status == CANCELLED:
            report.cancelled.append({**who, "exchange_order_id": after.exchange_order_id or o.exchange_order_id})
        else:
            report.failed.append({**who, "reason": f"the order is already {after.status} on the exchange"})


def live_orders_unsent_cancel_now(*, bot: Bot, reason: str) -> int:
    with transaction.atomic():
        Bot.objects.select_for_update(no_key=True).only("pk").get(pk=bot.pk)
        return live_orders_unsent_cancel(bot_ids=[bot.pk], reason=reason)
