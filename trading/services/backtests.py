"""Backtest a bot's own settings over the stored candles of its market (the bot page's Backtest).

The same engine (`trading.backtest.run_backtest`), strategy and params, starting balance, fill model
(the platform's PAPER_FILL_CONFIG with the bot's overrides), market rules (the Market row: precision,
minimums, fees), risk limits and seed as the bot's paper trading, so the same candles give the same
trades as `manage.py backtest` on them. Nothing is written: no order, fill or equity row, and no
exchange key is ever loaded. Bounded (BACKTEST_MAX_BARS candles) so a request stays around a second.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Max, Min

from config.api import DomainError
from exchanges.adapter import ExchangeError
from risk.limits import limits_for
from trading.backtest import BacktestResult, iso, run_backtest
from trading.engine.types import ParamError
from trading.execution.paper_orders import fill_config_for, market_rules
from trading.feeds import Bar
from trading.models import Bot, Candle
from trading.services.candles import STEP_SECONDS, candles_history

BACKTEST_MAX_BARS = 50_000  # ~1-2 s of engine time plus the read; more must be narrowed by a range
BACKTEST_DEFAULT_BARS = 2_000  # the server-rendered page's default window (newest candles)
CHART_POINTS = 1_000  # equity points sent for the chart at most
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


class NotEnoughCandles(DomainError):
    code = "not_enough_candles"


NoCandles = NotEnoughCandles  # the name the first page version used


class BadBacktestRange(DomainError):
    code = "invalid_range"


def candle_coverage(*, exchange: str, symbol: str) -> list[dict]:
    """Which timeframes are stored for a market: [{"timeframe", "count", "first", "last"}], most candles first."""
    rows = (Candle.objects.filter(exchange=exchange, symbol=symbol).values("timeframe")
            .annotate(count=Count("id"), first=Min("ts"), last=Max("ts")).order_by("-count"))
    return list(rows)


def candles_needed(*, strategy: str, params: dict) -> tuple[int, str]:
    """(candles a backtest needs before the strategy can trade at all, why). Decisions are made on closed
    candles and filled at the next candle's open, hence the +1 for the fill."""
    if strategy == "sma_cross":
        slow = int(params.get("slow", 30))
        return slow + 2, f"sma_cross with slow={slow} needs slow+1 = {slow + 1} closed candles to see a crossing, " \
                         "plus 1 to fill at"
    if strategy == "rsi":
        period = int(params.get("period", 14))
        return period + 2, f"rsi with period={period} needs period+1 = {period + 1} closed candles for an RSI, " \
                           "plus 1 to fill at"
    return 2, f"{strategy} needs 1 closed candle plus 1 to fill at"


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise BadBacktestRange(f"{name} must be a date and time.", fields={name: ["Enter a date and time."]})
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _load_bars(*, bot: Bot, start: datetime | None, end: datetime | None, timeframe: str,
               bars: int | None) -> tuple[list[Bar], bool]:
    """The candles to replay, oldest first, and whether the window was cut to the cap."""
    limit = min(int(bars), BACKTEST_MAX_BARS) if bars else BACKTEST_MAX_BARS
    qs = Candle.objects.filter(exchange=bot.exchange, symbol=bot.symbol, timeframe=timeframe)
    if start is not None:
        qs = qs.filter(ts__gte=start)
    if end is not None:
        qs = qs.filter(ts__lte=end)
    # With only a start: the first candles from it; otherwise the newest ones up to `end` (or now).
    oldest_first = start is not None and end is None
    rows = list(qs.order_by("ts" if oldest_first else "-ts")
                .values_list("ts", "open", "high", "low", "close", "volume")[:limit + 1])
    cut = len(rows) > limit
    if cut and start is not None and end is not None and not bars:
        total = qs.count()
        raise BadBacktestRange(
            f"That range holds {total:,} {timeframe} candles; a backtest replays at most {BACKTEST_MAX_BARS:,}. "
            "Narrow the range or use a longer timeframe.", fields={"start": ["Range too long."]})
    rows = rows[:limit]
    if not oldest_first:
        rows.reverse()
    return [Bar(_ms(ts), o, h, lo, c, v) for ts, o, h, lo, c, v in rows], cut


def _limits(bot: Bot):
    return limits_for(bot=bot)


def progress_key(bot_id: int) -> str:
    return f"bot-backtest-progress:{bot_id}"


def backtest_progress(*, bot: Bot) -> dict:
    """What the bot's running backtest is doing: {"state": idle|fetching|running, "done", "total"}."""
    return cache.get(progress_key(bot.pk)) or {"state": "idle", "done": 0, "total": 0}


def backtest_history_fetch(*, bot: Bot, start: datetime | None, end: datetime | None, timeframe: str,
                           bars: int | None) -> dict:
    """Fetch (once) the exchange's candles the backtest window needs and that are not stored yet.

    The window: [start, end] (end defaults to now; start to `bars` or BACKTEST_DEFAULT_BARS candles before
    end, at least what the strategy needs). Progress goes to the cache for the page to poll. Never raises
    for the exchange: {"fetched", "pages", "missing_before", "error"} says what happened.
    """
    if timeframe not in STEP_SECONDS:
        return {"fetched": 0, "pages": 0, "missing_before": 0, "error": f"{timeframe} history cannot be fetched"}
    step = STEP_SECONDS[timeframe] * 1000
    end_ms = _ms(end) if end is not None else int(time.time() * 1000)
    needed, _ = candles_needed(strategy=bot.strategy, params=bot.params or {})
    count = min(BACKTEST_MAX_BARS, max(needed, int(bars) if bars else BACKTEST_DEFAULT_BARS))
    start_ms = _ms(start) if start is not None else end_ms - (count + 1) * step  # `count` closed candles
    start_ms = max(start_ms, end_ms - BACKTEST_MAX_BARS * step)
    key = progress_key(bot.pk)

    def progress(done: int, total: int) -> None:
        cache.set(key, {"state": "fetching", "done": done, "total": total}, timeout=300)

    progress(0, 0)
    try:
        out = candles_history(exchange=bot.exchange, symbol=bot.symbol, timeframe=timeframe, start_ms=start_ms,
                              end_ms=end_ms, progress=progress)
        out["error"] = None
    except ExchangeError as exc:
        out = {"fetched": 0, "pages": 0, "missing_before": 0, "error": exc.message}
    cache.set(key, {"state": "running", "done": 0, "total": 0}, timeout=300)
    return out


def bot_backtest_result(*, bot: Bot, start: datetime | None = None, end: datetime | None = None,
                        timeframe: str | None = None, bars: int | None = None, history: dict | None = None) -> BacktestResult:
    """Run the bot's settings over its market's stored `timeframe` candles (default: the bot's own timeframe,
    the candles it trades on) with open time in [start, end]
    (either may be omitted; at most BACKTEST_MAX_BARS, or the newest `bars`). Returns the engine's result.

    Raises BadBacktestRange (400) for an unknown timeframe or start after end, NotEnoughCandles (400) when
    the window holds fewer candles than the strategy needs to trade even once.
    """
    timeframe = timeframe or bot.timeframe
    if timeframe not in TIMEFRAMES:
        raise BadBacktestRange(f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}.",
                               fields={"timeframe": ["Unknown timeframe."]})
    start, end = _aware(start, "start"), _aware(end, "end")
    if start is not None and end is not None and start >= end:
        raise BadBacktestRange("The start must be before the end.", fields={"end": ["Must be after the start."]})
    if bars is not None and not 1 <= int(bars) <= BACKTEST_MAX_BARS:
        raise BadBacktestRange(f"Candles: a whole number from 1 to {BACKTEST_MAX_BARS:,}.",
                               fields={"bars": [f"From 1 to {BACKTEST_MAX_BARS:,}."]})
    needed, why = candles_needed(strategy=bot.strategy, params=bot.params or {})
    series, _ = _load_bars(bot=bot, start=start, end=end, timeframe=timeframe, bars=bars)
    if len(series) < needed:
        window = "in that range" if start is not None or end is not None else "stored"
        if bars and len(series) == bars:
            window = f"in the newest {bars}"
        stored = ", ".join(f"{c['timeframe']} ({c['count']:,})"
                           for c in candle_coverage(exchange=bot.exchange, symbol=bot.symbol)) or "none yet"
        raise NotEnoughCandles(
            f"Only {len(series):,} {timeframe} candles of {bot.symbol} on {bot.exchange} {window}; this backtest "
            f"needs at least {needed:,} ({why}). Candles stored for this market: {stored}. They build up while "
            "prices are polled, or import a recording with manage.py import_ohlcv."
            + (f" Fetching history from {bot.exchange} failed: {history['error']}" if history and history.get("error")
               else ""),
            fields={"start": [f"At least {needed:,} candles needed."]})
    try:
        return run_backtest(series, bot.strategy, bot.params, bot.starting_balance,
                            rules=market_rules(exchange=bot.exchange, symbol=bot.symbol),
                            cfg=fill_config_for(bot.fill_overrides), seed=bot.seed, limits=_limits(bot))
    except ParamError as exc:  # settings saved before a validation rule existed
        raise DomainError("The bot's settings are not valid for its strategy: "
                          + "; ".join(f"{k}: {v}" for k, v in exc.fields.items()), fields=exc.fields,
                          code="invalid_params") from None


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def equity_downsample(curve: list[tuple[int, Decimal]], points: int = CHART_POINTS) -> list[tuple[int, Decimal]]:
    """At most `points` points of an equity curve for a chart, keeping each bucket's lowest and highest
    value (in time order) so drawdowns and peaks survive, and always the first and last point."""
    if len(curve) <= points:
        return list(curve)
    inner = curve[1:-1]
    buckets = max(1, (points - 2) // 2)
    size = len(inner) / buckets
    out = [curve[0]]
    for b in range(buckets):
        chunk = inner[int(b * size):int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
        for i in sorted({lo, hi}):
            out.append(chunk[i])
    out.append(curve[-1])
    return out


def bot_backtest(*, bot: Bot, start: datetime | None = None, end: datetime | None = None,
                 timeframe: str | None = None, bars: int | None = None, fetch: bool = False) -> dict:
    """`bot_backtest_result` as a JSON-safe dict (Decimals as strings) for the API and the page's chart.
    With `fetch`, the exchange's history for the window is fetched (once) first. `timeframe` defaults to
    the bot's own."""
    timeframe = timeframe or bot.timeframe
    started = time.perf_counter()
    history = None
    try:
        if fetch:
            start, end = _aware(start, "start"), _aware(end, "end")
            history = backtest_history_fetch(bot=bot, start=start, end=end, timeframe=timeframe, bars=bars)
        result = bot_backtest_result(bot=bot, start=start, end=end, timeframe=timeframe, bars=bars, history=history)
    finally:
        cache.delete(progress_key(bot.pk))
    stats = result.stats.to_json()
    rejects: dict[str, int] = {}
    for r in result.rejects:
        rejects[r.code] = rejects.get(r.code, 0) + 1
    curve = equity_downsample(result.equity_curve)
    base, _, quote = bot.symbol.partition("/")
    return {
        "bot_id": bot.pk, "exchange": bot.exchange, "symbol": bot.symbol, "quote_currency": quote.split(":")[0],
        "base_currency": base, "strategy": result.strategy_id, "params": result.params, "seed": result.seed,
        "timeframe": timeframe,
        "candles": {"count": result.bars, "first": iso(result.first_ts_ms), "last": iso(result.last_ts_ms),
                    "first_ts_ms": result.first_ts_ms, "last_ts_ms": result.last_ts_ms},
        **stats,  # starting_balance, final_equity, return_pct, closed_trades, win_rate, max_drawdown_pct,
        #           fees_paid, realized_pnl, unrealized_pnl, trades, open_trades
        "fills": len(result.fills),
        "rejects": rejects,
        "risk_refusals": dict(result.risk_refusals),
        "halted": result.halted,
        "final_wallet": {"base": _s(result.wallet.base), "quote": _s(result.wallet.quote)},
        "equity_curve": [{"ts": iso(ts), "ts_ms": ts, "equity": _s(v)} for ts, v in curve],
        "equity_points": len(result.equity_curve),
        "elapsed_ms": round((time.perf_counter() - started) * 1000),
        "history": history,
    }
