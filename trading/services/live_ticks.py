"""The live path of a tick: every running live bot of an exchange decides with `plan()` and its orders go to
the exchange through `venue_for(bot)` (the ccxt venue), one bot at a time. Kept apart from the set-based
paper tick (trading/services/ticks.py filters mode='paper'); called right after it for the same tick.

Per bot:
1. the live gate (`live_allowed`) and the market data of the paper tick (one read per symbol, no exchange
   request per bot: prices come from the shared poll);
2. a bot with an order whose fate is unknown does not decide: reconciliation looks the order up first;
3. ONE transaction: claim the bot for this tick (its row FOR NO KEY UPDATE, `last_tick_key`), `plan()` with
   the fills recorded since its last decision, the risk gate (`risk.services.order_gate`) for every order,
   and each allowed order's row written with status `new` BEFORE any network call; the new state saved;
4. after commit, for each order: claim it (attempts 0 -> 1, refused once a kill switch is engaged or the bot
   is no longer running), submit it (no transaction, no lock held), record the answer through the order
   writer. An answer lost to a timeout leaves the order `unknown` and the bot paused until reconciliation
   has looked it up; nothing is sent again blindly;
5. one equity point once the answers are recorded: the live wallet valued at the tick's price, stamped with
   the tick's time (the tick key is the poll's time in ms; real money is valued when it is, not at the
   candle's time as the paper tick does for parity with the backtest), so the live bot's equity chart and
   its live performance (trading.selectors.bot_performance, from the promotion on) move with it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from exchanges.adapter import ExchangeError, ExchangeUnavailable, InvalidCredentials, PermissionDenied
from risk.checks import OrderProposal, memory_advance, memory_count_order, state_build
from risk.limits import limits_for
from risk.services import order_gate
from trading.engine.runner import plan
from trading.engine.types import Fill as EngineFill
from trading.engine.types import RestingOrder, Wallet
from trading.execution.health import bots_pause_for_exchange, live_health_report
from trading.execution.live_orders import (
    live_fees_outside,
    live_order_claim,
    live_order_open,
    live_report_take_in,
    request_of,
)
from trading.execution.paper_orders import fill_config_for
from trading.execution.routing import (
    LIVE,
    LiveNotAllowed,
    live_allowed,
    live_trading_enabled,
    venue_for,
    venue_for_cancel,
)
from trading.execution.states import UNKNOWN
from trading.execution.types import OrderRequest
from trading.execution.venue import VenueError
from trading.formatting import currency_places
from trading.models import Bot, EquitySnapshot, Fill, Order
from trading.promotion.demotion import promotion_demote
from trading.services.tick_feeds import MIN_BARS, SymbolFeed, feeds_for, lookback, to_dt

log = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass
class LiveTickSummary:
    exchange: str
    tick_key: int
    bots: int = 0
    evaluated: int = 0
    orders: int = 0
    submitted: int = 0
    unknown: int = 0
    refused: int = 0
    notes: dict = field(default_factory=dict)
    decided_ms: list = field(default_factory=list)  # decision -> acknowledged, per order (the benchmark reads it)


def _engine_fill(f: Fill) -> EngineFill:
    return EngineFill(side=f.side, price=f.price, amount=f.amount, fee=f.fee, fee_currency=f.fee_currency,
                      slippage=f.slippage, liquidity=f.liquidity, ts_ms=int(f.ts.timestamp() * 1000),
                      order_id=f.order.client_id if f.order_id else None)


def _reference(feed: SymbolFeed, side: str) -> Decimal:
    """The price a market order is sized and checked at: the best ask/bid, else the feed's price."""
    quote = feed.market.quote if feed.market is not None else None
    if quote is not None and quote.ask and quote.bid:
        return quote.ask if side == "buy" else quote.bid
    return (feed.market.next_open if feed.market is not None else None) or feed.price


def _base_amount(intent, price: Decimal, fee: Decimal) -> Decimal | None:
    if intent.amount is not None:
        return intent.amount
    if intent.quote_amount is None or not price:
        return None
    # a market buy spends quote incl. the fee; a sell receives quote after it
    per_unit = price * (1 + fee) if intent.side == "buy" else price * (1 - fee)
    return (intent.quote_amount / per_unit).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)


def _decide(bot_id: int, feed: SymbolFeed, tick_key: int,
            summary: LiveTickSummary) -> tuple[list[tuple[Order, float]], list[Order]]:
    """Step 3 of the module docstring: the order rows written `new` (each with its decision time) and the
    open orders the strategy cancels."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).select_related("owner").get(pk=bot_id)
        if bot.status != Bot.Status.RUNNING or bot.mode != LIVE or (bot.last_tick_key or -1) >= tick_key:
            return [], []
        state = dict(bot.state or {})
        live = state.setdefault("live", {})
        since = int(live.get("fill_id") or 0)
        new_fills = list(Fill.objects.filter(bot=bot, pk__gt=since).select_related("order").order_by("pk"))
        open_rows = list(Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES))
        # the strategy sees its live limit orders as resting orders (named by their client ids)
        resting = [RestingOrder(id=o.client_id, side=o.side, price=o.price, amount=o.amount, filled=o.filled,
                                reason=o.reason, client_tag=o.tag or None)
                   for o in open_rows if o.type == Order.Type.LIMIT and o.price is not None]
        wallet = Wallet(base=bot.base, quote=bot.quote, base_reserved=bot.base_reserved,
                        quote_reserved=bot.quote_reserved)
        now_ms = feed.market.ts_ms
        # fees paid in a third currency (BNB) come off the equity the breakers and the gate see
        equity = wallet.quote + wallet.base * feed.price - live_fees_outside(bot)
        mem = memory_advance(state, now_ms=now_ms, equity=equity)
        decided = plan(strategy_id=bot.strategy, params=bot.params, state=state, closed_bars=feed.bars,
                       wallet=wallet, open_orders=resting, rules=feed.rules, step_key=feed.newest_ms, bot_id=bot.pk,
                       fills=[_engine_fill(f) for f in new_fills])
        bot.last_tick_key, bot.last_tick_at = tick_key, timezone.now()
        if not decided.evaluated:
            bot.save(update_fields=["last_tick_key", "last_tick_at", "updated_at"])
            return [], []
        summary.evaluated += 1
        limits = limits_for(bot=bot)
        cfg = fill_config_for(bot.fill_overrides)
        fee = feed.rules.taker_fee if feed.rules and feed.rules.taker_fee is not None else cfg.fallback_fee
        rows: list[tuple[Order, float]] = []
        cancels: list[Order] = []
        free_base = wallet.free_base
        for planned in decided.orders:
            intent = planned.intent
            if intent.type == "cancel":
                target = next((o for o in open_rows if o.client_id == intent.order_id), None)
                if target is not None:
                    cancels.append(target)  # on the exchange, after this commit
                continue
            price = intent.price or _reference(feed, intent.side)
            amount = _base_amount(intent, price, fee)
            if not amount or amount <= 0:
                continue
            rstate = state_build(mem, equity=equity, base=wallet.base,
                                 free_base=free_base, price=price, open_orders=len(open_rows) + len(rows),
                                 now_ms=int(time.time() * 1000), reduce_only=bot.reduce_only, memory_ms=now_ms)
            decision = order_gate(bot=bot, proposal=OrderProposal(
                side=intent.side, amount=amount, price=price, reduces_position=intent.side == "sell",
                money_places=currency_places(bot.symbol.rpartition("/")[2])), state=rstate, limits=limits)
            if not decision.allowed:
                summary.refused += 1
                bot.last_tick_note = f"risk: {decision.message}"[:200]
                continue
            memory_count_order(mem)
            request = OrderRequest(client_order_id=planned.client_order_id, symbol=bot.symbol, side=intent.side,
                                   type=intent.type, amount=amount,
                                   price=intent.price if intent.type == "limit" else None, reason=intent.reason[:200])
            rows.append((live_order_open(bot=bot, request=request, tick_key=tick_key), time.perf_counter()))
        decided.state["risk"] = mem
        decided.state.setdefault("live", {})["fill_id"] = max([since, *[f.pk for f in new_fills]])
        bot.state = decided.state
        bot.save(update_fields=["state", "last_tick_key", "last_tick_at", "last_tick_note", "updated_at"])
    summary.orders += len(rows)
    return rows, cancels


def _send(bot: Bot, rows: list[tuple[Order, float]], feed: SymbolFeed, summary: LiveTickSummary) -> None:
    """Step 4: outside any transaction."""
    fresh = Bot.objects.get(pk=bot.pk)
    try:
        venue = venue_for(fresh, wallet=Wallet(base=fresh.base, quote=fresh.quote, base_reserved=fresh.base_reserved,
                                               quote_reserved=fresh.quote_reserved),
                          rules=feed.rules, cfg=fill_config_for(fresh.fill_overrides), market=feed.market)
    except LiveNotAllowed as exc:
        Bot.objects.filter(pk=bot.pk).update(last_tick_note=exc.message[:200])
        return
    lost = []
    for order, decided_at in rows:
        if not live_order_claim(order=order):
            continue
        report = venue.submit(request_of(order, symbol=fresh.symbol))
        summary.decided_ms.append((time.perf_counter() - decided_at) * 1000)
        summary.submitted += 1
        live_report_take_in(venue=venue, bot=fresh, order_id=order.pk, report=report)
        if report.status == UNKNOWN:
            summary.unknown += 1
            lost.append(f"did not answer an order ({report.message or 'no answer'}); it is being looked up, "
                        f"nothing is resent")
        elif report.code == ExchangeUnavailable.code:
            lost.append(f"is not answering ({report.message}); nothing was sent")
            break
        elif report.code in (InvalidCredentials.code, PermissionDenied.code):
            _demote_for_auth(fresh, report.message)
            return
        if report.status != UNKNOWN and venue.quote_free is not None:
            venue = venue_for(Bot.objects.get(pk=bot.pk), wallet=_wallet(bot.pk), rules=feed.rules,
                              cfg=fill_config_for(fresh.fill_overrides), market=feed.market)
    if lost:
        why = f"{fresh.exchange} {lost[0]}"
        bots_pause_for_exchange(bot_ids=[fresh.pk], why=why)
        live_health_report(exchange=fresh.exchange, ok=False, error=why, bots=1)


def _cancel(bot: Bot, orders: list[Order]) -> None:
    """The strategy's cancels, on the exchange (outside any transaction), recorded through the writer."""
    venue = venue_for_cancel(bot)
    for o in orders:
        try:
            after = venue.cancel(symbol=bot.symbol, client_order_id=o.client_id,
                                 exchange_order_id=o.exchange_order_id or None)
        except (ExchangeError, VenueError) as exc:
            log.warning("cancel of live order %s failed: %s", o.pk, getattr(exc, "message", exc))
            continue
        try:
            live_report_take_in(venue=venue, bot=bot, order_id=o.pk, report=after, fetch_trades=True)
        except ExchangeError as exc:  # the cancel is recorded; reconciliation takes the filled part in
            log.warning("taking in the trades of cancelled live order %s failed: %s", o.pk, exc.message)


def _wallet(bot_id: int) -> Wallet:
    b = Bot.objects.only("base", "quote", "base_reserved", "quote_reserved").get(pk=bot_id)
    return Wallet(base=b.base, quote=b.quote, base_reserved=b.base_reserved, quote_reserved=b.quote_reserved)


def _equity_point(bot_id: int, feed: SymbolFeed, tick_key: int) -> None:
    """Step 5: the live wallet as it stands after this tick's answers (one row per bot and tick; the same
    tick again overwrites it)."""
    if not feed.price:
        return
    b = Bot.objects.only("mode", "base", "quote", "state").get(pk=bot_id)
    if b.mode != LIVE:  # demoted during this tick (a rejected key): the paper tick values it from now on
        return
    equity = b.quote + b.base * feed.price - live_fees_outside(b)  # as the performance page values it
    EquitySnapshot.objects.update_or_create(
        bot_id=bot_id, ts=to_dt(tick_key),
        defaults={"price": feed.price, "base": b.base, "quote": b.quote, "equity": equity})


def _demote_for_auth(bot: Bot, message: str) -> None:
    """An exchange that rejects the key: the bot goes back to paper (its open orders cancelled first)."""
    promotion_demote(bot=bot, actor=None, reason=f"the exchange rejected the API key: {message}"[:200])


def live_tick_run(*, exchange: str, tick_key: int, now: float | None = None) -> LiveTickSummary:
    """Evaluate every running live bot of `exchange` for this tick (see the module docstring)."""
    summary = LiveTickSummary(exchange, int(tick_key))
    if not settings.ENABLE_TRADING:
        return summary
    if not live_trading_enabled():
        note = "not trading live: live trading is switched off on this platform (ENABLE_LIVE_TRADING=false)"
        summary.notes[note] = Bot.objects.filter(exchange=exchange, mode=LIVE, status=Bot.Status.RUNNING).exclude(
            last_tick_note=note).update(last_tick_note=note)
        return summary
    bots = list(Bot.objects.filter(Q(last_tick_key__isnull=True) | Q(last_tick_key__lt=int(tick_key)),
                                   exchange=exchange, mode=LIVE, status=Bot.Status.RUNNING, archived_at__isnull=True)
                .order_by("id"))
    summary.bots = len(bots)
    if not bots:
        return summary
    now = time.time() if now is None else now
    wanted: dict[tuple[str, str], int] = {}
    for b in bots:
        wanted[(b.symbol, b.timeframe)] = max(wanted.get((b.symbol, b.timeframe), MIN_BARS), lookback(b.params))
    feeds = feeds_for(exchange, wanted, now)
    waiting = set(Order.objects.filter(bot__in=bots, status=UNKNOWN).values_list("bot_id", flat=True))
    for bot in bots:
        gate = live_allowed(bot)
        feed = feeds[(bot.symbol, bot.timeframe)]
        note = ("" if gate.allowed else f"not trading live: {gate.reason}") or feed.note or (
            "waiting: an order's outcome is being looked up on the exchange" if bot.pk in waiting else "")
        if note:
            summary.notes[note] = summary.notes.get(note, 0) + 1
            Bot.objects.filter(pk=bot.pk).exclude(last_tick_note=note[:200]).update(last_tick_note=note[:200])
            continue
        try:
            rows, cancels = _decide(bot.pk, feed, int(tick_key), summary)
            if cancels:
                _cancel(bot, cancels)
            if rows:
                _send(bot, rows, feed, summary)
            _equity_point(bot.pk, feed, int(tick_key))
        except Exception:  # noqa: BLE001 - one bot's failure never stops the others
            log.exception("live bot %s failed on tick %s", bot.pk, tick_key)
            summary.notes["error"] = summary.notes.get("error", 0) + 1
    return summary
