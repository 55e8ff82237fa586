from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet, Sum

from risk.models import RiskEvent
from trading.backtest import performance_stats, trades_from_fills
from trading.engine.types import Fill as EngineFill
from trading.formatting import currency_places, market_format_for
from trading.models import Bot, Candle, EquitySnapshot, Fill, Market, Order, PromotionRequest, WatchlistItem
from trading.price_selectors import tickers_latest
from trading.profit import ClosedTrade, profit_by_pair, profit_by_period, profit_calendar, profit_totals


def watchlist_for(user) -> QuerySet[WatchlistItem]:
    return WatchlistItem.objects.filter(user=user)


def watched_pairs(user) -> list[tuple[str, str]]:
    """The user's watchlist, or the platform default while it is empty."""
    pairs = list(watchlist_for(user).values_list("exchange", "symbol"))
    if pairs:
        return pairs
    out = []
    for pair in settings.DEFAULT_WATCHLIST:
        exchange, _, symbol = pair.partition(":")
        if exchange and symbol:
            out.append((exchange, symbol))
    return out


def market_known(*, exchange: str, symbol: str) -> bool | None:
    """True/False once the exchange's markets are synced; None while we know nothing yet."""
    markets = Market.objects.filter(exchange=exchange)
    if not markets.exists():
        return None
    return markets.filter(symbol=symbol).exists()


def market_get(*, exchange: str, symbol: str) -> Market | None:
    return Market.objects.filter(exchange=exchange, symbol=symbol).first()


def market_format(*, exchange: str, symbol: str):
    """How to show this market's prices, amounts and money (trading.formatting.MarketFormat)."""
    m = market_get(exchange=exchange, symbol=symbol)
    if m is None:
        return market_format_for(symbol)
    return market_format_for(symbol, price_step=m.price_step, amount_step=m.amount_step, base=m.base, quote=m.quote)


def market_formats(pairs) -> dict:
    """{(exchange, symbol): MarketFormat} for many markets in one query."""
    from django.db.models import Q

    pairs = set(pairs)
    out = {p: market_format_for(p[1]) for p in pairs}
    if not pairs:
        return out
    cond = Q()
    for exchange, symbol in pairs:
        cond |= Q(exchange=exchange, symbol=symbol)
    for m in Market.objects.filter(cond):
        out[(m.exchange, m.symbol)] = market_format_for(m.symbol, price_step=m.price_step, amount_step=m.amount_step,
                                                        base=m.base, quote=m.quote)
    return out


def markets_for(*, exchange: str, q: str = "", limit: int = 100) -> list[Market]:
    """The exchange's active markets for a picker: symbols starting with `q` first, then containing it."""
    qs = Market.objects.filter(exchange=exchange, active=True)
    q = (q or "").strip().upper()
    if not q:
        return list(qs.order_by("symbol")[:limit])
    starts = list(qs.filter(symbol__startswith=q).order_by("symbol")[:limit])
    if len(starts) < limit:
        seen = {m.pk for m in starts}
        starts += [m for m in qs.filter(symbol__contains=q).order_by("symbol")[:limit * 2] if m.pk not in seen]
    return starts[:limit]


def markets_suggest(*, exchange: str, symbol: str, limit: int = 5) -> list[str]:
    """Listed markets a person probably meant: the same pair written differently (BTCUSDT, btc-usdt),
    the same base on other quotes, then the closest spellings."""
    import difflib

    wanted = (symbol or "").upper()
    base, _, quote = wanted.replace("-", "/").replace("_", "/").partition("/")
    squashed = "".join(ch for ch in wanted if ch.isalnum())
    rows = list(Market.objects.filter(exchange=exchange, active=True).values_list("symbol", "base", "quote"))
    out: list[str] = [s for s, b, q in rows if (b + q).upper() == squashed]
    preferred_quotes = [quote, "USDT", "USDC", "USD", "EUR", "BTC"]
    same_base = sorted((s for s, b, q in rows if b.upper() == base and s not in out),
                       key=lambda s: (preferred_quotes.index(s.partition("/")[2]) if s.partition("/")[2]
                                      in preferred_quotes else 99, s))
    out += same_base
    out += [s for s in difflib.get_close_matches(wanted, [r[0] for r in rows], n=limit, cutoff=0.6) if s not in out]
    return list(dict.fromkeys(out))[:limit]


def candles_recent(*, exchange: str, symbol: str, timeframe: str = "1m", limit: int = 200) -> list[Candle]:
    rows = Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).order_by("-ts")[:limit]
    return list(reversed(rows))


def data_source_label() -> dict:
    source = settings.MARKET_DATA_SOURCE
    labels = {"ccxt": "Live exchange prices", "replay": "Replay of recorded prices (not live)",
              "synthetic": "Synthetic prices (simulated, not real)"}
    return {"source": source, "real": source == "ccxt", "label": labels[source]}


# --- bots ----------------------------------------------------------------------------------

def bots_for(user) -> QuerySet[Bot]:
    """The user's bots (archived ones are gone from every list and URL)."""
    return Bot.objects.filter(owner=user, archived_at__isnull=True)


def bot_orders(*, bot: Bot, status: str | list[str] | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(bot=bot)
    if status == "open":
        qs = qs.filter(status__in=Order.OPEN_STATUSES)
    elif isinstance(status, str) and status:
        qs = qs.filter(status=status)
    elif isinstance(status, list) and status:
        qs = qs.filter(status__in=status)
    return qs.order_by("-created_at", "-id")


def bot_fills(*, bot: Bot, oldest_first: bool = False) -> QuerySet[Fill]:
    qs = Fill.objects.filter(bot=bot).select_related("order")
    return qs.order_by("ts", "id") if oldest_first else qs.order_by("-ts", "-id")


def live_cancel_report_last(*, bot: Bot) -> dict | None:
    """The latest cancel of this bot's live orders on the exchange (emergency stop, halt, stop, demotion):
    when, why, which orders were cancelled and which could not be, with the reason; None if it never had one."""
    event = RiskEvent.objects.filter(bot=bot, code="live_orders_cancel").order_by("-created_at", "-id").first()
    if event is None:
        return None
    details = event.details or {}
    return {"at": event.created_at, "cause": details.get("cause", ""), "cancelled": details.get("cancelled", []),
            "failed": details.get("failed", [])}


def bot_live_period(*, bot: Bot) -> tuple | None:
    """A live bot's record starts at its promotion: (activated_at, allocation) of the approved request it trades
    under, None for a paper bot. Its live wallet started as the allocation; paper fills and points are before."""
    if bot.mode != Bot.Mode.LIVE:
        return None
    row = (PromotionRequest.objects.filter(bot=bot, status=PromotionRequest.Status.APPROVED,
                                           activated_at__isnull=False)
           .order_by("-activated_at").values_list("activated_at", "allocation").first())
    return tuple(row) if row else None


def _record_fills(bot: Bot, live: tuple | None) -> QuerySet[Fill]:
    qs = Fill.objects.filter(bot=bot)
    return qs.filter(ts__gte=live[0]) if live else qs


def bot_equity_curve(*, bot: Bot, limit: int = 2000, live: tuple | None = None) -> list[EquitySnapshot]:
    qs = EquitySnapshot.objects.filter(bot=bot)
    if live:
        qs = qs.filter(ts__gte=live[0])
    rows = qs.order_by("-ts")[:limit]
    return list(reversed(rows))


def bot_last_price(*, bot: Bot) -> Decimal | None:
    """The freshest price we know: the live ticker (even stale: it is only for valuing), else the tick's."""
    tick = tickers_latest(exchange=bot.exchange, symbols=[bot.symbol]).get(bot.symbol)
    if tick is not None and tick.last is not None:
        return tick.last
    return bot.last_price


def _pair(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":")[0]


def fee_in_quote(*, fee: Decimal, currency: str, valued: Decimal | None, price: Decimal, base: str,
                 quote: str) -> Decimal | None:
    """A fill's fee in the quote currency: a quote fee as it is, a base fee at the fill's price, a fee in a third
    currency (BNB) at the value recorded when it filled (None: it could not be valued)."""
    if currency in ("", quote):
        return fee
    if currency == base:
        return fee * price
    return valued


def _fees(bot: Bot, rows) -> dict:
    """fees_paid: every fee valued in quote; fees_outside_wallet: the quote value of the fees paid in a third
    currency (not taken from the bot's wallet, so the P&L takes them off the equity); fees: per currency, what
    was paid and its value (None: part of it not valued); fees_not_valued: per currency, what has no value."""
    base, quote = _pair(bot.symbol)
    paid, outside = Decimal(0), Decimal(0)
    per: dict[str, list] = {}
    for fee, currency, valued, price in rows:
        value = fee_in_quote(fee=fee, currency=currency, valued=valued, price=price, base=base, quote=quote)
        line = per.setdefault(currency or quote, [Decimal(0), Decimal(0), Decimal(0)])  # amount, value, unvalued
        line[0] += fee
        if value is None:
            line[2] += fee
            continue
        line[1] += value
        paid += value
        if currency not in ("", base, quote):
            outside += value
    return {"fees_paid": paid, "fees_outside_wallet": outside,
            "fees": [{"currency": c, "amount": a, "value": v if not u else None} for c, (a, v, u) in per.items()
                     if a],
            "fees_not_valued": [{"currency": c, "amount": u} for c, (_a, _v, u) in per.items() if u]}


def fees_outside_wallet(bots: list[Bot]) -> dict[int, Decimal]:
    """Bot id -> the quote value of its live fees paid in a third currency (BNB), in one query."""
    pairs = {b.pk: _pair(b.symbol) for b in bots}
    out: dict[int, Decimal] = {}
    rows = (Fill.objects.filter(bot_id__in=list(pairs), fee_quote__isnull=False).exclude(exchange_trade_id="")
            .values_list("bot_id", "fee_currency").annotate(value=Sum("fee_quote")))
    for bot_id, currency, value in rows:
        if currency not in ("", *pairs[bot_id]):
            out[bot_id] = out.get(bot_id, Decimal(0)) + value
    return out


def bot_position(*, bot: Bot, last: Decimal | None = None, live: tuple | None = None) -> dict:
    """Position and P&L, derived from the wallet and the fills so that
    equity = quote + base * last - fees paid outside the wallet = starting_balance + realized + unrealized.

    Fees paid outside the wallet: a live bot's fees charged in a third currency (BNB), valued in quote when
    they filled; one that could not be valued is listed in `fees_not_valued` (and is not in the P&L).
    A live bot: its live fills, and the allocation as the starting balance (see bot_live_period)."""
    last = bot_last_price(bot=bot) if last is None else last
    start = live[1] if live else bot.starting_balance
    amount, cost = Decimal(0), Decimal(0)  # average-cost position (fees excluded, as the strategies see it)
    fee_rows = []
    for side, price, qty, fee, currency, valued in _record_fills(bot, live).order_by("ts", "id").values_list(
            "side", "price", "amount", "fee", "fee_currency", "fee_quote"):
        fee_rows.append((fee, currency, valued, price))
        if side == "buy":
            amount += qty
            cost += price * qty
        elif amount > 0:
            cost -= cost * min(qty, amount) / amount
            amount = max(Decimal(0), amount - qty)
    avg = cost / amount if amount > 0 else None
    fees = _fees(bot, fee_rows)
    equity = bot.quote + bot.base * last - fees["fees_outside_wallet"] if last is not None else None
    unrealized = (bot.base * (last - avg)) if (avg is not None and last is not None) else Decimal(0)
    realized = (equity - start - unrealized) if equity is not None else None
    return {"base": bot.base, "quote": bot.quote, "base_reserved": bot.base_reserved,
            "quote_reserved": bot.quote_reserved, "average_entry_price": avg, "last_price": last,
            "equity": equity, "realized_pnl": realized, "unrealized_pnl": unrealized, **fees,
            "return_pct": ((equity / start - 1) * 100) if equity is not None else None}


def bot_performance(*, bot: Bot) -> dict:
    """Return %, win rate, closed trades (FIFO round trips), max drawdown, fees, position and equity curve.

    The same statistics code as the backtest (trading.backtest.performance_stats). A live bot's performance is
    its live record: from its promotion, against the allocation (`live` in the answer says since when)."""
    live = bot_live_period(bot=bot)
    start, since = (live[1], live[0]) if live else (bot.starting_balance, bot.created_at)
    position = bot_position(bot=bot, live=live)
    last = position["last_price"]
    fills = _engine_fills(bot, live)
    curve_rows = bot_equity_curve(bot=bot, live=live)
    equity = position["equity"]
    curve_for_stats = [(int(since.timestamp() * 1000), start),
                       *[(int(p.ts.timestamp() * 1000), p.equity) for p in curve_rows]]
    if equity is not None:
        curve_for_stats.append((curve_for_stats[-1][0], equity))
    stats = performance_stats(fills=fills, equity_curve=curve_for_stats, starting_balance=start,
                              final_equity=equity, mark_price=last)
    return {"starting_balance": start, "live_since": live[0] if live else None, "equity": equity,
            "return_pct": stats.return_pct if equity is not None else None, "win_rate": stats.win_rate,
            "closed_trades": stats.closed_trades, "max_drawdown_pct": stats.max_drawdown_pct,
            "fees_paid": stats.fees_paid, "fees_not_valued": position["fees_not_valued"], "position": position,
            "equity_curve": curve_rows}


def _engine_fills(bot: Bot, live: tuple | None = None) -> list:
    """The bot's fills as the statistics take them: every fee in quote (an unvalued one as 0, listed apart)."""
    base, quote = _pair(bot.symbol)

    def fee(f: Fill) -> Decimal:
        value = fee_in_quote(fee=f.fee, currency=f.fee_currency, valued=f.fee_quote, price=f.price, base=base,
                             quote=quote)
        return value if value is not None else Decimal(0)

    return [EngineFill(side=f.side, price=f.price, amount=f.amount, fee=fee(f), fee_currency=quote,
                       slippage=f.slippage, liquidity=f.liquidity, ts_ms=int(f.ts.timestamp() * 1000))
            for f in _record_fills(bot, live).order_by("ts", "id")]


def _ms_to_dt(ms: int | None):
    from datetime import UTC, datetime

    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def bot_deals(*, bot: Bot, limit: int = 100, now=None) -> dict:
    """The bot's open position (entry, size, unrealized P&L, how long it has been open) and its closed
    trades (entry, exit, P&L, duration), newest first.

    Closed trades are the FIFO round trips of the fills, the same ones the "closed trades" count and
    the win rate come from (trading.backtest.trades_from_fills); the open position's entry and P&L are
    bot_position's, so the page never shows two different numbers for one thing."""
    from django.utils import timezone

    now = now or timezone.now()
    live = bot_live_period(bot=bot)
    position = bot_position(bot=bot, live=live)
    closed, open_lots = trades_from_fills(_engine_fills(bot, live), position["last_price"])
    rows = []
    for t in reversed(closed):
        entry_at, exit_at = _ms_to_dt(t.entry_ms), _ms_to_dt(t.exit_ms)
        rows.append({"entry_at": entry_at, "exit_at": exit_at, "entry_price": t.entry_price,
                     "exit_price": t.exit_price, "amount": t.amount, "fees": t.fee, "pnl": t.pnl,
                     "return_pct": t.return_pct,
                     "duration_seconds": int((exit_at - entry_at).total_seconds()) if entry_at and exit_at else None})
    open_position = None
    market = market_get(exchange=bot.exchange, symbol=bot.symbol)
    dust = market.amount_step if market is not None and market.amount_step else Decimal(0)
    if bot.base > 0 and bot.base >= dust:  # less than one amount step cannot be sold: not a position
        opened_at = _ms_to_dt(min((t.entry_ms for t in open_lots if t.entry_ms is not None), default=None))
        avg, last = position["average_entry_price"], position["last_price"]
        open_position = {
            "amount": bot.base, "entry_price": avg, "last_price": last, "opened_at": opened_at,
            "duration_seconds": int((now - opened_at).total_seconds()) if opened_at else None,
            "cost": bot.base * avg if avg is not None else None,
            "value": bot.base * last if last is not None else None,
            "unrealized_pnl": position["unrealized_pnl"] if last is not None else None,
            "unrealized_pct": ((last / avg - 1) * 100) if (avg and last is not None) else None,
        }
    return {"open_position": open_position, "closed_count": len(closed), "closed_trades": rows[:limit],
            "realized_pnl": sum((t.pnl for t in closed), Decimal(0))}


def portfolio_for(user) -> dict:
    """Every bot of the user valued at the freshest price: equity, P&L, and the totals per quote currency."""
    bots = list(bots_for(user).order_by("exchange", "symbol", "id"))
    wanted: dict[str, set[str]] = {}
    for b in bots:
        wanted.setdefault(b.exchange, set()).add(b.symbol)
    prices: dict[tuple[str, str], Decimal] = {}
    for exchange, symbols in wanted.items():
        for symbol, tick in tickers_latest(exchange=exchange, symbols=sorted(symbols)).items():
            if tick is not None and tick.last is not None:
                prices[(exchange, symbol)] = tick.last
    rows, totals = [], {}
    formats = market_formats((b.exchange, b.symbol) for b in bots)
    outside = fees_outside_wallet(bots)
    for b in bots:
        last = prices.get((b.exchange, b.symbol), b.last_price)
        equity = b.quote + b.base * last if last is not None else (b.quote if not b.base else None)
        if equity is not None:
            equity -= outside.get(b.pk, Decimal(0))
        quote_ccy = b.symbol.partition("/")[2].split(":")[0]
        rows.append({"bot": b, "last_price": last, "equity": equity, "fmt": formats[(b.exchange, b.symbol)],
                     "pnl": None if equity is None else equity - b.starting_balance,
                     "return_pct": None if equity is None else (equity / b.starting_balance - 1) * 100})
        if equity is not None:
            t = totals.setdefault(quote_ccy, {"currency": quote_ccy, "starting_balance": Decimal(0),
                                              "equity": Decimal(0), "money_places": currency_places(quote_ccy)})
            t["starting_balance"] += b.starting_balance
            t["equity"] += equity
    for t in totals.values():
        t["pnl"] = t["equity"] - t["starting_balance"]
    return {"bots": rows, "totals": sorted(totals.values(), key=lambda t: t["currency"])}


def bots_for_risk(*, user) -> QuerySet[Bot]:
    """Bots a person may halt/resume: their own; every bot for a risk officer (perm risk.halt_any_bot)."""
    bots = Bot.objects.filter(archived_at__isnull=True)
    return bots if user.has_perm("risk.halt_any_bot") else bots.filter(owner=user)


# --- profit across bots ----------------------------------------------------------------------

def closed_trades_for(user) -> list:
    """Every closed trade (FIFO round trip, net of fees) of the user's bots, deleted ones included: a
    profit that was made stays in the history. As trading.profit.ClosedTrade, oldest first."""

    bots = {b.pk: b for b in Bot.objects.filter(owner=user)}
    by_bot: dict[int, list] = {}
    rows = (Fill.objects.filter(bot__owner=user).order_by("bot_id", "ts", "id")
            .values_list("bot_id", "side", "price", "amount", "fee", "fee_currency", "slippage", "liquidity", "ts"))
    for bot_id, side, price, amount, fee, fee_ccy, slippage, liquidity, ts in rows.iterator(chunk_size=5000):
        by_bot.setdefault(bot_id, []).append(EngineFill(
            side=side, price=price, amount=amount, fee=fee, fee_currency=fee_ccy, slippage=slippage,
            liquidity=liquidity, ts_ms=int(ts.timestamp() * 1000)))
    out = []
    for bot_id, fills in by_bot.items():
        bot = bots[bot_id]
        currency = bot.symbol.partition("/")[2].split(":")[0]
        closed, _ = trades_from_fills(fills)
        out += [ClosedTrade(exchange=bot.exchange, symbol=bot.symbol, currency=currency, bot_id=bot_id,
                            closed_at=_ms_to_dt(t.exit_ms), pnl=t.pnl) for t in closed if t.exit_ms is not None]
    return sorted(out, key=lambda t: t.closed_at)


def profit_summary(user, *, period: str = "day", count: int = 30, today=None) -> dict:
    from django.utils import timezone

    today = today or timezone.now().date()
    trades = closed_trades_for(user)
    return {"period": period, "today": today, "totals": profit_totals(trades, today=today),
            "periods": profit_by_period(trades, period=period, today=today, count=count),
            "pairs": profit_by_pair(trades)}


def profit_month(user, *, year: int, month: int) -> dict:
    return profit_calendar(closed_trades_for(user), year=year, month=month)
