"""Small hand-made market data for the engine tests (no files, no database)."""

from __future__ import annotations

from decimal import Decimal

from trading.feeds import Bar, SyntheticFeed

D = Decimal
MINUTE = 60_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % MINUTE)


def bar(i: int, o, h, low, c, v="10") -> Bar:
    return Bar(T0 + i * MINUTE, D(str(o)), D(str(h)), D(str(low)), D(str(c)), D(str(v)))


def bars_from_closes(closes, *, volume="10", spread="0.5") -> list[Bar]:
    """Candles whose open is the previous close; high/low a fixed `spread` around the body."""
    out, prev = [], D(str(closes[0]))
    for i, c in enumerate(closes):
        c = D(str(c))
        out.append(Bar(T0 + i * MINUTE, prev, max(prev, c) + D(spread), min(prev, c) - D(spread), c, D(volume)))
        prev = c
    return out


def synthetic_bars(n: int, *, seed: int = 1, start: str = "100", volatility: float = 0.004,
                   volume: str = "5") -> list[Bar]:
    """A seeded random walk turned into 1m candles (same seed, same candles)."""
    feed = SyntheticFeed("paper", "BTC/USDT", seed=seed, start=D(start), volatility=volatility)
    out, price = [], D(start)
    for i in range(n):
        nxt = feed.next_price(price, i + 1)
        wiggle = (price * D("0.001")).quantize(D("0.00000001"))
        out.append(Bar(T0 + i * MINUTE, price, max(price, nxt) + wiggle, min(price, nxt) - wiggle, nxt, D(volume)))
        price = nxt
    return out
