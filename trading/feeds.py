"""Market data in plain Python: ticker validation and the non-exchange sources.

No Django here. A `Tick` is what the rest of the platform trusts; anything that fails
validation becomes a stale Tick with a reason instead of an exception.
"""

from __future__ import annotations

import csv
import math
import random
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from trading.engine.types import Bar

__all__ = ["TIMEFRAME_SECONDS", "Bar", "ReplayFeed", "SyntheticFeed", "Tick", "parse_csv_name", "read_csv", "stale_tick",
           "validate_ticker"]

TIMEFRAME_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400, "1M": 2592000}


@dataclass(frozen=True)
class Tick:
    exchange: str
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    received_at: float  # our clock, unix seconds
    exchange_ts: int | None = None  # the exchange's, unix ms
    change_24h_pct: Decimal | None = None
    volume_24h: Decimal | None = None
    stale: bool = False
    reason: str = ""
    source: str = "ccxt"

    def to_json(self) -> dict:
        """JSON-safe: Decimals as strings, so no precision is lost on the way to a browser."""

        def s(v):
            return None if v is None else str(v)

        return {
            "exchange": self.exchange, "symbol": self.symbol, "bid": s(self.bid), "ask": s(self.ask),
            "last": s(self.last), "ts": self.exchange_ts, "received_at": self.received_at,
            "change_24h_pct": s(self.change_24h_pct), "volume_24h": s(self.volume_24h), "stale": self.stale,
            "reason": self.reason, "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict) -> Tick:
        def d(v):
            return None if v is None else Decimal(v)

        return cls(exchange=data["exchange"], symbol=data["symbol"], bid=d(data["bid"]), ask=d(data["ask"]),
                   last=d(data["last"]), received_at=float(data["received_at"]), exchange_ts=data.get("ts"),
                   change_24h_pct=d(data.get("change_24h_pct")), volume_24h=d(data.get("volume_24h")),
                   stale=bool(data.get("stale")), reason=data.get("reason", ""), source=data.get("source", "ccxt"))


def _num(value, name: str, *, positive: bool = True) -> Decimal:
    """A finite Decimal from whatever the exchange sent, or ValueError naming the field."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"{name} is missing")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} is not finite")
    if positive and number <= 0:
        raise ValueError(f"{name} is not positive")
    return number


def validate_ticker(exchange: str, symbol: str, raw: dict | None, received_at: float, source: str = "ccxt") -> Tick:
    """Turn a ccxt ticker (which may be full of None) into a Tick; invalid data -> stale with a reason."""
    if not isinstance(raw, dict):
        return stale_tick(exchange, symbol, "missing from the exchange reply", received_at, source)
    try:
        bid, ask, last = _num(raw.get("bid"), "bid"), _num(raw.get("ask"), "ask"), _num(raw.get("last"), "last")
        if bid > ask:
            raise ValueError("bid is above ask")
    except ValueError as exc:
        return stale_tick(exchange, symbol, str(exc), received_at, source)
    ts = raw.get("timestamp")
    ts = int(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts) else None
    optional = {}
    for key, name in (("percentage", "change_24h_pct"), ("baseVolume", "volume_24h")):
        try:
            optional[name] = _num(raw.get(key), key, positive=False)
        except ValueError:
            optional[name] = None
    return Tick(exchange, symbol, bid, ask, last, received_at, ts, stale=False, source=source, **optional)


def stale_tick(exchange: str, symbol: str, reason: str, received_at: float, source: str = "ccxt",
               previous: Tick | None = None) -> Tick:
    """Keep the last good prices for display, but flagged: bots never trade on it."""
    if previous is not None:
        return Tick(exchange, symbol, previous.bid, previous.ask, previous.last, previous.received_at,
                    previous.exchange_ts, previous.change_24h_pct, previous.volume_24h, True, reason, source)
    return Tick(exchange, symbol, None, None, None, received_at, None, stale=True, reason=reason, source=source)


# --- recorded candles ----------------------------------------------------------------

_FILE_RE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)_(?P<tf>\w+)\.csv$")


def parse_csv_name(path: Path) -> tuple[str, str, str]:
    """`binance_BTC-USDT_1m.csv` -> ("binance", "BTC/USDT", "1m")."""
    m = _FILE_RE.match(path.name)
    if not m:
        raise ValueError(f"{path.name}: expected <exchange>_<BASE>-<QUOTE>_<timeframe>.csv")
    return m["exchange"], f"{m['base']}/{m['quote']}", m["tf"]


def read_csv(path: Path) -> list[Bar]:
    """Read `timestamp_ms,open,high,low,close,volume`; a bad row stops with its line number."""
    bars: list[Bar] = []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != ["timestamp_ms", "open", "high", "low", "close", "volume"]:
            raise ValueError(f"{path.name}: header must be timestamp_ms,open,high,low,close,volume")
        for line, row in enumerate(reader, start=2):
            try:
                ts = int(row[0])
                o, h, low, c = (_num(v, n) for v, n in zip(row[1:5], ("open", "high", "low", "close"), strict=True))
                v = _num(row[5], "volume", positive=False)
                if v < 0 or h < max(o, c) or low > min(o, c):
                    raise ValueError("inconsistent high/low/volume")
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path.name} line {line}: {exc}") from None
            if bars and ts <= bars[-1].ts_ms:
                raise ValueError(f"{path.name} line {line}: timestamps must increase")
            bars.append(Bar(ts, o, h, low, c, v))
    return bars


@dataclass
class ReplayFeed:
    """Plays recorded candles as tickers: step n shows the close of candle n, with a small spread."""

    exchange: str
    symbol: str
    bars: list[Bar]
    spread: Decimal = Decimal("0.0005")

    def tick(self, step: int, received_at: float) -> Tick:
        bar = self.bars[step % len(self.bars)]
        half = bar.close * self.spread / 2
        return Tick(self.exchange, self.symbol, bar.close - half, bar.close + half, bar.close, received_at,
                    exchange_ts=bar.ts_ms, volume_24h=bar.volume, source="replay")


@dataclass
class SyntheticFeed:
    """A seeded random walk: the same seed gives the same prices, step by step, on any machine.

    Each step's move is drawn from its own Random(seed, symbol, step), so a poll can go from
    step n-1 to n in O(1) with the previous price, and a replay from 0 gives the same path.
    """

    exchange: str
    symbol: str
    seed: int
    start: Decimal = Decimal("100")
    volatility: float = 0.002
    spread: Decimal = Decimal("0.0005")

    def next_price(self, previous: Decimal, step: int) -> Decimal:
        move = random.Random(f"{self.seed}:{self.exchange}:{self.symbol}:{step}").gauss(0, self.volatility)
        return (previous * Decimal(repr(math.exp(move)))).quantize(Decimal("0.00000001"))

    def price(self, step: int) -> Decimal:
        price = self.start
        for n in range(1, step + 1):
            price = self.next_price(price, n)
        return price

    def tick_from(self, last: Decimal, received_at: float) -> Tick:
        half = (last * self.spread / 2).quantize(Decimal("0.00000001"))
        return Tick(self.exchange, self.symbol, last - half, last + half, last, received_at, source="synthetic")
