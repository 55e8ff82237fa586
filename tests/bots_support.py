"""Helpers for the paper-bot tests: a generated replay recording and a way to drive poll + tick."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from trading.feeds import Bar, read_csv

START_MS = 1_700_000_040_000  # a minute boundary


def write_recording(directory: Path, *, bars: int = 240, exchange: str = "binance", symbol: str = "BTC/USDT",
                    timeframe: str = "1m", period: float = 24.0, amplitude: float = 0.03) -> Path:
    """A deterministic wavy price path (so SMA crosses happen) as a replay CSV; returns the file."""
    base, quote = symbol.split("/")
    path = Path(directory) / f"{exchange}_{base}-{quote}_{timeframe}.csv"
    lines = ["timestamp_ms,open,high,low,close,volume"]
    prev = Decimal("100")
    for i in range(bars):
        close = Decimal(str(round(100 * (1 + amplitude * math.sin(i / period * 2 * math.pi)
                                         + 0.004 * math.sin(i * 1.7)), 4)))
        o = prev
        hi = max(o, close) + Decimal("0.05")
        lo = min(o, close) - Decimal("0.05")
        lines.append(f"{START_MS + i * 60_000},{o},{hi},{lo},{close},{10 + i % 7}")
        prev = close
    path.write_text("\n".join(lines) + "\n")
    return path


def recording_bars(path: Path) -> list[Bar]:
    return read_csv(Path(path))


def use_replay(settings, directory: Path) -> None:
    from trading import price_selectors as prices

    settings.MARKET_DATA_SOURCE = "replay"
    settings.MARKET_DATA_REPLAY_PATH = str(directory)
    settings.DEFAULT_WATCHLIST = []
    prices._replay_cache.clear()


def poll_and_tick(exchange: str = "binance", symbols: set[str] | None = None):
    """One price poll of the replay feed, then the bots' tick for it (what the worker does)."""
    from trading.services.prices import prices_poll
    from trading.services.ticks import tick_run

    result = prices_poll(exchange=exchange, symbols=symbols or {"BTC/USDT"})
    key = int(max(t.received_at for t in result.ticks) * 1000)
    return result, tick_run(exchange=exchange, tick_key=key)
