"""Candle timeframes: a bot decides on candles of its own timeframe, built from 1m candles. Pure.

`aggregate` groups 1m bars into UTC-aligned buckets of `frame_ms` (a 5m candle opens at :00, :05, ...)
and keeps only the buckets that have CLOSED before `before_ms`: a 5m bot never sees a candle that is
still forming, so it acts once per 5 minutes, on the same candles a backtest on 5m data replays.
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import Bar

# what a bot may choose (ccxt's names); each is a whole number of minutes, aligned on the UTC epoch
TIMEFRAMES: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                              "4h": 14_400_000}
TIMEFRAME_CHOICES = tuple(TIMEFRAMES)  # for the API schema's enum (BotTimeframeEnum)
DEFAULT_TIMEFRAME = "1m"


def frame_ms(timeframe: str) -> int:
    """The candle length in ms; ValueError for a timeframe bots cannot use."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r} (use one of {', '.join(TIMEFRAMES)})") from None


def minutes_per(timeframe: str) -> int:
    return frame_ms(timeframe) // 60_000


def frame_start(ms: int, frame: int) -> int:
    return ms - ms % frame


def aggregate(bars: Sequence[Bar], frame: int, before_ms: int | None = None) -> list[Bar]:
    """`bars` (1m, oldest first) as candles of `frame` ms that closed before `before_ms` (default: the
    newest bar's close). open = first open, high = max, low = min, close = last close, volume = sum; a bucket
    with missing minutes is built from the minutes it has (as exchanges do)."""
    if not bars:
        return []
    if before_ms is None:
        before_ms = bars[-1].ts_ms + 60_000
    if frame == 60_000:
        return [b for b in bars if b.ts_ms + frame <= before_ms]
    out: list[Bar] = []
    start = -1
    o = h = lo = c = v = None
    for b in bars:
        bucket = b.ts_ms - b.ts_ms % frame
        if bucket + frame > before_ms:
            break  # this bucket (and every later one) has not closed yet
        if bucket != start:
            if start >= 0:
                out.append(Bar(start, o, h, lo, c, v))
            start, o, h, lo, c, v = bucket, b.open, b.high, b.low, b.close, b.volume
        else:
            h = max(h, b.high)
            lo = min(lo, b.low)
            c = b.close
            v += b.volume
    if start >= 0:
        out.append(Bar(start, o, h, lo, c, v))
    return out
