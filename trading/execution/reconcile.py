"""Reconciliation: make our live orders and fills equal the exchange's, batched per exchange key and symbol.

Run by the beat task `trading.reconcile_live` (every LIVE_RECONCILE_SECONDS, ~10 s). Per (key, symbol) group
of bots with live orders (or, every LIVE_RECONCILE_QUIET_SECONDS, every live bot on that key and symbol):
1. ONE `fetch_open_orders(symbol)`: our open orders as the exchange has them; an open order carrying our
   client id form that we never recorded is reported and cancelled; another one is reported only;
2. `fetch_order` by client order id, only for our orders that are not open there any more, or whose fate is
   unknown (a submit that timed out, a worker killed between submit and record); one that filled more than we
   recorded has its trades read at once and recorded with its status (one transaction). An order the exchange
   does not have: never sent (no claim) -> cancelled here; sent, and older than LIVE_RESEND_AFTER_SECONDS ->
   sent again ONCE with the same client id while the bot may still trade live, else rejected;
3. when we have orders there that may still fill, `fetch_my_trades(symbol)` from the stored cursor (a trade
   id, `LiveCursor`): each trade is recorded once as a Fill of its order (unique exchange trade id) and
   moves the bot's live wallet;
Quiet sweeps are spread over the interval: each key has its own phase in it (`quiet_due`), so keys made live
at the same moment (a restart, a batch of promotions) are not all checked in the same cycle; a key's first
check is at once, and no key waits longer than LIVE_RECONCILE_QUIET_SECONDS between two.
4. on the quiet sweep (never while ENABLE_LIVE_TRADING is off), ONE `fetch_balance` per key: when our books hold more of a currency than the whole
   account does (beyond a small tolerance), the key's live bots are halted and the owner alerted.
A group whose exchange does not answer pauses its running live bots (say why in `last_tick_note`, and in
/api/health/); the next cycle that gets answers resumes the bots it paused.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from exchanges.adapter import ExchangeError, ExchangeUnavailable
from risk.models import RiskEvent
from risk.services import risk_alert, risk_event_record
from trading.execution.ccxt_venue import CcxtVenue
from trading.execution.health import bots_pause_for_exchange, bots_resume_after_exchange, live_health_report
from trading.execution.live_orders import (
    live_order_claim_resend,
    live_report_record,
    live_report_take_in,
    request_of,
)
from trading.execution.routing import LIVE, live_allowed, live_trading_enabled
from trading.execution.safety import bot_halt
from trading.execution.states import LIVE as LIVE_STATES
from trading.execution.states import NEW, REJECTED, TERMINAL, UNKNOWN
from trading.execution.types import VenueOrder
from trading.execution.venue import OrderNotFound
from trading.execution.writer import order_apply
from trading.models import Bot, LiveCursor, Order, PromotionRequest

log = logging.getLogger(__name__)
ZERO = Decimal(0)
# trading.engine.ids: <bot: base36 or H+hash>-<step: token or H+hash>:<n>
OUR_ID = re.compile(r"^(?:[0-9a-z]{1,14}|H[A-Z2-7]{1,13})-(?:[a-z0-9_.]{1,16}|H[A-Z2-7]{15}):\d{1,4}$")
DRIFT_TOLERANCE = Decimal("0.000001")  # relative: rounding of fees and dust
TRADES_PAGE = 500


@dataclass
class ReconcileSummary:
    groups: int = 0
    skipped_quiet: int = 0
    requests: int = 0
    orders_updated: int = 0
    fills: int = 0
    resent: int = 0
    unknown_on_exchange: list = field(default_factory=list)
    cancelled_strays: list = field(default_factory=list)
    halted_for_drift: list = field(default_factory=list)
    paused: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    seconds: float = 0.0


def is_our_client_id(client_id: str | None) -> bool:
    """Whether an exchange order's client id has the form this platform gives live orders (trading.engine.ids)."""
    return bool(client_id) and bool(OUR_ID.match(client_id))


def _groups() -> tuple[dict[tuple[int, str], list[Bot]], dict]:
    """(key id, symbol) -> bots: live bots under an approved promotion, and bots that still have live orders
    (halted, demoted) under the key they traded with."""
    groups: dict[tuple[int, str], list[Bot]] = defaultdict(list)
    live = (PromotionRequest.objects.filter(status=PromotionRequest.Status.APPROVED, key__isnull=False,
                                            bot__mode=LIVE).select_related("bot", "key"))
    seen = set()
    keys = {}
    for p in live:
        groups[(p.key_id, p.bot.symbol)].append(p.bot)
        seen.add(p.bot_id)
        keys[p.key_id] = p.key
    leftover = (Order.objects.filter(status__in=list(LIVE_STATES)).exclude(bot_id__in=seen)
                .filter(attempts__gt=0).values_list("bot_id", flat=True).distinct())
    for bot_id in set(leftover):
        p = (PromotionRequest.objects.filter(bot_id=bot_id, activated_at__isnull=False, key__isnull=False)
             .select_related("bot", "key").order_by("-activated_at").first())
        if p is not None:
            groups[(p.key_id, p.bot.symbol)].append(p.bot)
            keys[p.key_id] = p.key
    return groups, keys


def reconcile_live(*, now=None, force: bool = False) -> ReconcileSummary:
    """One reconciliation cycle over every (key, symbol) group (see the module docstring).

    Keys are independent (each has its own client and rate limiter): with LIVE_RECONCILE_WORKERS > 1 the
    keys are spread over that many threads, each with its own database connection; one key's groups always
    run in one thread, in order."""
    started = time.perf_counter()
    summary = ReconcileSummary()
    now = now or timezone.now()
    groups, keys = _groups()
    by_key: dict[int, list] = defaultdict(list)
    for (key_id, symbol), bots in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        by_key[key_id].append((symbol, bots))
    switched_on = live_trading_enabled()
    workers = max(1, min(int(settings.LIVE_RECONCILE_WORKERS), len(by_key)))

    def one_key(key_id: int) -> None:
        _key(keys[key_id], by_key[key_id], summary, now=now, force=force, switched_on=switched_on)

    if workers == 1:
        for key_id in by_key:
            one_key(key_id)
    else:
        def threaded(key_id: int) -> None:
            try:
                one_key(key_id)
            except Exception:  # noqa: BLE001 - one key's failure never stops the others
                log.exception("reconciliation of key %s failed", key_id)
            finally:
                connections.close_all()  # this thread's own connection

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
            list(pool.map(threaded, list(by_key)))
    summary.seconds = time.perf_counter() - started
    return summary


GOLDEN = 0.6180339887498949  # consecutive key ids land far apart in the interval (Weyl sequence)


def quiet_due(*, key_id: int, checked_at, now, interval: float) -> bool:
    """Whether the quiet sweep of a key is due: the interval is cut into slots shifted by the key's phase
    (key id x golden ratio, mod 1), and a key is swept once per slot. Never checked: due now."""
    if checked_at is None:
        return True
    if interval <= 0:
        return True
    phase = (key_id * GOLDEN) % 1.0 * interval

    def slot(t) -> int:
        return int((t.timestamp() + phase) // interval)

    return slot(now) > slot(checked_at)


def _key(key, groups: list, summary: ReconcileSummary, *, now, force: bool, switched_on: bool) -> None:
    interval = float(settings.LIVE_RECONCILE_QUIET_SECONDS)
    balance_checked = False
    all_bots = [b for _s, bots in groups for b in bots]
    for symbol, bots in groups:
        ours = list(Order.objects.filter(bot__in=bots, status__in=list(LIVE_STATES)).order_by("pk"))
        cursor, _ = LiveCursor.objects.get_or_create(key_id=key.pk, symbol=symbol)
        # with live trading switched off only orders still on the exchange are followed (no quiet sweeps)
        sweep = switched_on and (force or quiet_due(key_id=key.pk, checked_at=cursor.checked_at, now=now,
                                                    interval=interval))
        if not ours and not sweep:
            _add(summary, "skipped_quiet")
            continue
        _add(summary, "groups")
        venue = CcxtVenue(key=key, allow_submit=True, on_request=lambda _w: _count(summary))
        try:
            _group(venue, symbol, bots, ours, cursor, summary, now)
            if sweep and not balance_checked:
                balance_checked = True
                _balance_check(venue, all_bots, summary)
            cursor.checked_at = now
            cursor.save(update_fields=["last_trade_id", "checked_at"])
        except ExchangeUnavailable as exc:
            _pause(bots, f"{key.exchange} is not answering ({exc.message})", summary)
            continue
        except ExchangeError as exc:
            log.warning("reconciliation of key %s %s failed: %s", key.pk, symbol, exc.message)
            continue
        _resume(bots, summary)


_summary_lock = threading.Lock()


def _add(summary: ReconcileSummary, name: str, n: int = 1) -> None:
    with _summary_lock:
        setattr(summary, name, getattr(summary, name) + n)


def _count(summary: ReconcileSummary) -> None:
    _add(summary, "requests")


def _group(venue: CcxtVenue, symbol: str, bots: list[Bot], ours: list[Order], cursor: LiveCursor,
           summary: ReconcileSummary, now) -> None:
    by_client = {o.client_id: o for o in ours}
    open_there = {o.client_order_id: o for o in venue.open_orders(symbol=symbol)}
    for client_id, report in open_there.items():
        mine = by_client.get(client_id)
        if mine is not None:
            _record(mine, report, summary)
            continue
        if Order.objects.filter(bot__in=bots, client_id=client_id).exists():
            continue  # ours, recorded as closed: the exchange will say so on the next look
        _stray(venue, symbol, report, bots, summary)
    for order in ours:
        if order.client_id in open_there:
            continue
        if order.status == NEW and order.attempts == 0:
            if now - order.created_at > timedelta(seconds=settings.LIVE_RESEND_AFTER_SECONDS):
                _close_unsent(order, "never sent (the worker stopped before sending it)")
            continue
        found = venue.fetch_order(symbol=symbol, client_order_id=order.client_id)
        if found is not None:
            _record_closed(venue, order, found, {b.pk: b for b in bots}, summary)
            continue
        _missing(venue, symbol, order, summary, now)
    if ours or _owed(bots):
        # only our orders' trades matter, and a market order's come with its answer: with no order of ours
        # that may still fill, and none that filled more than its recorded fills (a partially filled order
        # cancelled, a filled one whose trades were not read yet), there is nothing to take in (the cursor
        # catches up, trade ids dedupe)
        _trades(venue, symbol, bots, cursor, summary)


def _owed(bots: list[Bot]) -> bool:
    """Whether one of these bots' live orders of the last day filled more than its recorded fills."""
    since = timezone.now() - timedelta(days=1)
    return (Order.objects.filter(bot__in=bots, filled__gt=0, updated_at__gte=since).exclude(exchange_order_id="")
            .annotate(taken=Coalesce(Sum("fills__amount"), ZERO)).filter(filled__gt=F("taken")).exists())


def _record(order: Order, report: VenueOrder, summary: ReconcileSummary) -> None:
    before = (order.status, order.filled)
    updated, _ = live_report_record(bot_id=order.bot_id, order_id=order.pk, report=report)
    if (updated.status, updated.filled) != before:
        _add(summary, "orders_updated")


def _record_closed(venue: CcxtVenue, order: Order, report: VenueOrder, bots: dict[int, Bot],
                   summary: ReconcileSummary) -> None:
    """An order no longer open on the exchange (or whose answer was lost), as `fetch_order` reports it: an
    order lookup carries no trades, so when it filled more than we recorded, its trades are read first and
    recorded WITH the new status in one transaction (never `filled` while the live wallet has not moved)."""
    bot = bots.get(order.bot_id)
    if bot is None or report.trades or not report.exchange_order_id or report.filled <= order.filled:
        _record(order, report, summary)
        return
    before = (order.status, order.filled)
    try:
        trades = venue.order_trades(symbol=bot.symbol, exchange_order_id=report.exchange_order_id)
    except ExchangeError as exc:  # the trade page of this cycle (or the next one) takes them in
        log.warning("trades of live order %s could not be read: %s", order.pk, exc.message)
        trades = []
    updated, fills = live_report_take_in(venue=venue, bot=bot, order_id=order.pk, report=report, trades=trades)
    if (updated.status, updated.filled) != before:
        _add(summary, "orders_updated")
    if fills:
        _add(summary, "fills", len(fills))


def _close_unsent(order: Order, reason: str) -> None:
    with transaction.atomic():
        row = Order.objects.select_for_update(no_key=True).get(pk=order.pk)
        if row.status in (NEW, UNKNOWN):
            order_apply(row, status=REJECTED, ts=timezone.now(), reason=reason)
            row.save()


def _missing(venue: CcxtVenue, symbol: str, order: Order, summary: ReconcileSummary, now) -> None:
    """The exchange does not have an order we sent (or may have sent)."""
    if order.status not in (NEW, UNKNOWN):
        return  # it was open and vanished without a trace: leave it for the next look, and say so
    age = (now - order.updated_at).total_seconds()
    if age < settings.LIVE_RESEND_AFTER_SECONDS:
        return  # the request may still be on its way: look again later
    bot = Bot.objects.get(pk=order.bot_id)
    if order.attempts >= 2 or not live_allowed(bot).allowed or bot.status != Bot.Status.RUNNING:
        _close_unsent(order, "not on the exchange after a lookup; not sent again")
        return
    if not live_order_claim_resend(order=order):
        return
    _add(summary, "resent")
    report = venue.submit(request_of(order, symbol=symbol))  # the SAME client id: the exchange refuses a twin
    live_report_take_in(venue=venue, bot=bot, order_id=order.pk, report=report)


def _trades(venue: CcxtVenue, symbol: str, bots: list[Bot], cursor: LiveCursor, summary: ReconcileSummary) -> None:
    while True:
        page = venue.trades_since(symbol=symbol, cursor=cursor.last_trade_id or None, limit=TRADES_PAGE)
        if not page.trades:
            return
        by_exchange_id: dict[str, list] = defaultdict(list)
        for t in page.trades:
            by_exchange_id[t.exchange_order_id or ""].append(t)
        orders = {o.exchange_order_id: o for o in Order.objects.filter(
            bot__in=bots, exchange_order_id__in=[k for k in by_exchange_id if k])}
        bot_of = {b.pk: b for b in bots}
        for exchange_id, trades in by_exchange_id.items():
            order = orders.get(exchange_id)
            if order is None:
                continue  # not one of our bots' orders (another tool on the same account, or a stray)
            # new trades of an order that may still fill: its status now (read after the trades, so it has
            # filled at least as much as they say: partially_filled -> filled moves with them)
            fresh = venue.fetch_order(symbol=symbol, exchange_order_id=exchange_id) if order.status not in TERMINAL \
                else None
            report = fresh or _as_report(order, symbol)
            _, fills = live_report_take_in(venue=venue, bot=bot_of[order.bot_id], order_id=order.pk, report=report,
                                           trades=trades)
            _add(summary, "fills", len(fills))
        cursor.last_trade_id = page.cursor or cursor.last_trade_id
        cursor.save(update_fields=["last_trade_id"])
        if len(page.trades) < TRADES_PAGE:
            return


def _as_report(order: Order, symbol: str) -> VenueOrder:
    """The order as we know it (trades recorded without a status change)."""
    return VenueOrder(client_order_id=order.client_id, exchange_order_id=order.exchange_order_id or None,
                      symbol=symbol, side=order.side, type=order.type, status=order.status, amount=order.amount,
                      price=order.price, filled=order.filled, average_price=order.average_price)


def _stray(venue: CcxtVenue, symbol: str, report: VenueOrder, bots: list[Bot], summary: ReconcileSummary) -> None:
    """An open order on the exchange that we never recorded."""
    info = {"client_order_id": report.client_order_id, "exchange_order_id": report.exchange_order_id,
            "symbol": symbol, "side": report.side, "amount": str(report.amount)}
    bot = bots[0]
    if is_our_client_id(report.client_order_id):
        try:
            venue.cancel(symbol=symbol, client_order_id=report.client_order_id,
                         exchange_order_id=report.exchange_order_id)
            info["cancelled"] = True
            summary.cancelled_strays.append(info)
        except (ExchangeError, OrderNotFound) as exc:
            info["cancelled"] = False
            info["reason"] = getattr(exc, "message", str(exc))
    summary.unknown_on_exchange.append(info)
    text = (f"An order on {bot.exchange} ({symbol} {report.side} {report.amount}, client id "
            f"{report.client_order_id}) was never recorded by the platform"
            + (": it carried our client id form and was cancelled." if info.get("cancelled") else
               ": it is not ours, so it was left alone; check the account."))
    risk_event_record(code="live_unknown_order", severity=RiskEvent.WARNING, bot=bot, message=text[:500],
                      details=info)
    risk_alert(user=bot.owner, bot=bot, event="risk", severity="warning", title="Unknown order on the exchange",
               text=text, url_path=f"/bots/{bot.pk}/", dedupe_key=f"stray:{report.exchange_order_id}")


def _balance_check(venue: CcxtVenue, bots: list[Bot], summary: ReconcileSummary) -> None:
    """Our books for the key's live bots must not hold more of any currency than the exchange account."""
    held = venue.balance()
    books: dict[str, Decimal] = defaultdict(Decimal)
    fresh = list(Bot.objects.filter(pk__in=[b.pk for b in bots], mode=LIVE).select_related("owner"))
    for b in fresh:
        base, _, quote = b.symbol.partition("/")
        books[base] += b.base
        books[quote.split(":")[0]] += b.quote
    short = {c: (amount, held.get(c, ZERO)) for c, amount in books.items()
             if amount > 0 and held.get(c, ZERO) < amount * (1 - DRIFT_TOLERANCE)}
    if not short:
        return
    what = "; ".join(f"{c}: our books {a.normalize():f}, the exchange {h.normalize():f}" for c, (a, h) in short.items())
    for b in fresh:
        if b.status == Bot.Status.HALTED:
            continue
        bot_halt(bot=b, actor=None, reason=f"balance drift: {what}"[:200], code="live_balance_drift")
        risk_alert(user=b.owner, bot=b, event="risk", severity="critical", title=f"Bot {b.name} halted",
                   text=f"The exchange account holds less than the platform's books for your live bots ({what}). "
                        f"The bot is halted until you resume it.", url_path=f"/bots/{b.pk}/",
                   dedupe_key=f"drift:{b.pk}:{timezone.now():%Y-%m-%dT%H}")
        summary.halted_for_drift.append(b.pk)


def _pause(bots: list[Bot], why: str, summary: ReconcileSummary) -> None:
    ids = [b.pk for b in bots]
    summary.paused.extend(ids)
    bots_pause_for_exchange(bot_ids=ids, why=why)
    live_health_report(exchange=bots[0].exchange, ok=False, error=why, bots=len(ids))


def _resume(bots: list[Bot], summary: ReconcileSummary) -> None:
    resumed = bots_resume_after_exchange(bot_ids=[b.pk for b in bots])
    summary.resumed.extend(resumed)
    live_health_report(exchange=bots[0].exchange, ok=True)
