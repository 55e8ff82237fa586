"""Candles into PostgreSQL: from recorded CSV files and from the exchange's OHLCV endpoint."""

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
