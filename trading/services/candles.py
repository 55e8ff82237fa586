"""Candles into PostgreSQL: from recorded CSV files and from the exchange's OHLCV endpoint."""

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from exchanges.adapter import fetch_ohlcv, public_client
from trading.feeds import Bar
from trading.models import Candle

BATCH = 2000


def candles_store(*, exchange: str, symbol: str, timeframe: str, bars: Iterable[Bar], progress=None) -> int:
    """Upsert candles in batches (re-importing the same file changes nothing). Returns rows written."""
    written, batch = 0, []

    def flush():
        nonlocal written
        with transaction.atomic():
            Candle.objects.bulk_create(
                batch, update_conflicts=True, unique_fields=["exchange", "symbol", "timeframe", "ts"],
                update_fields=["open", "high", "low", "close", "volume"])
        written += len(batch)
        if progress:
            progress(len(batch))
        batch.clear()

    for bar in bars:
        batch.append(Candle(exchange=exchange, symbol=symbol, timeframe=timeframe,
                            ts=datetime.fromtimestamp(bar.ts_ms / 1000, tz=UTC), open=bar.open, high=bar.high,
                            low=bar.low, close=bar.close, volume=bar.volume))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return written


def candles_fetch(*, exchange: str, symbol: str, timeframe: str = "1m", since_ms: int | None = None,
                  limit: int = 500) -> int:
    """Fill candles from the exchange's OHLCV endpoint (public, no keys)."""
    rows = fetch_ohlcv(public_client(exchange), symbol, timeframe, since_ms, limit) or []
    bars = []
    for row in rows:
        try:
            ts, o, h, low, c, v = row[:6]
            bars.append(Bar(int(ts), *(Decimal(str(x)) for x in (o, h, low, c, v))))
        except (TypeError, ValueError, ArithmeticError):
            continue  # a junk row is skipped, never stored
    return candles_store(exchange=exchange, symbol=symbol, timeframe=timeframe, bars=bars)


def candles_backfill(*, exchange: str, symbol: str, since_ms: int, until_ms: int) -> int:
    """Store the exchange's CLOSED 1m candles with open time in [since_ms, until_ms) (one OHLCV request,
    at most what fits in one page), replacing what the polls built of them (a candle the polls saw only
    part of gets the exchange's own open, high, low, close and volume). Returns candles stored; raises
    ExchangeError."""
    want = (until_ms - since_ms) // 60_000
    if want <= 0:
        return 0
    rows = fetch_ohlcv(public_client(exchange), symbol, "1m", since_ms, min(want, HISTORY_PAGE)) or []
    bars = []
    for row in rows:
        try:
            ts, o, h, low, c, v = row[:6]
            bar = Bar(int(ts), *(Decimal(str(x)) for x in (o, h, low, c, v)))
        except (TypeError, ValueError, ArithmeticError):
            continue  # a junk row is skipped, never stored
        if since_ms <= bar.ts_ms < until_ms and bar.ts_ms % 60_000 == 0:
            bars.append(bar)
    return candles_store(exchange=exchange, symbol=symbol, timeframe="1m", bars=bars)


# --- history for backtests ---------------------------------------------------------------------

STEP_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
                "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800}
HISTORY_PAGE = 1000  # candles per fetch_ohlcv call (Binance's maximum)
HISTORY_MAX_PAGES = 60  # one request never pages further than this (60,000 candles)


def candles_history(*, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int,
                    now_ms: int | None = None, progress=None) -> dict:
    """Make sure the CLOSED candles with open time in [start_ms, end_ms] are stored, fetching only what is
    missing from the exchange's OHLCV endpoint (public, no keys), page by page from the first missing one.

    Rate-limited by ccxt's own limiter (every client has enableRateLimit). Stored once: a second call over
    the same range makes no request. `progress(done, total)` is called after each page. Returns
    {"fetched", "pages", "missing_before"}. Raises ExchangeError (message safe to show) when a page fails.
    """
    step = STEP_SECONDS[timeframe] * 1000
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    first = -(-start_ms // step) * step
    last = min(end_ms // step * step, now_ms // step * step - step)  # the newest closed candle at most
    if last < first:
        return {"fetched": 0, "pages": 0, "missing_before": 0}
    have = {int(ts.timestamp() * 1000) for ts in Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe,
        ts__gte=datetime.fromtimestamp(first / 1000, tz=UTC),
        ts__lte=datetime.fromtimestamp(last / 1000, tz=UTC)).values_list("ts", flat=True)}
    wanted = (last - first) // step + 1
    missing = wanted - len(have)
    fetched = pages = 0
    since = next((t for t in range(first, last + step, step) if t not in have), None)
    client = public_client(exchange) if since is not None else None
    while since is not None and since <= last and pages < HISTORY_MAX_PAGES:
        rows = fetch_ohlcv(client, symbol, timeframe, since, HISTORY_PAGE) or []
        pages += 1
        bars = []
        for row in rows:
            try:
                ts, o, h, low, c, v = row[:6]
                bar = Bar(int(ts), *(Decimal(str(x)) for x in (o, h, low, c, v)))
            except (TypeError, ValueError, ArithmeticError):
                continue  # a junk row is skipped, never stored
            if since <= bar.ts_ms <= last:
                bars.append(bar)
        if not bars:
            break  # the exchange has nothing more in the range (before its listing, or a gap at its end)
        fetched += candles_store(exchange=exchange, symbol=symbol, timeframe=timeframe,
                                 bars=[b for b in bars if b.ts_ms not in have])
        if progress:
            progress(min(wanted, len(have) + fetched), wanted)
        newest = max(b.ts_ms for b in bars)
        since = next((t for t in range(newest + step, last + step, step) if t not in have), None)
    return {"fetched": fetched, "pages": pages, "missing_before": missing}
