"""Market data for one tick: what every bot on a symbol sees (closed candles, the quote or the next
recorded open, the order book, market rules), read once per symbol, never once per bot.

Replay: the recorded bars up to the replay step, exactly as the backtest sees them; ccxt/synthetic: the
1m candles closed before now, plus (ccxt) the top of the real order book fetched before any transaction.
A feed is per (symbol, timeframe): a bot on 5m candles sees the stored 1m candles aggregated into the 5m
candles that have closed (trading.engine.candles.aggregate), read once per symbol and timeframe and cached
until the next 5m candle closes.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from exchanges.adapter import fetch_order_book, public_client
from trading.engine.candles import aggregate, frame_ms, frame_start, minutes_per
from trading.engine.types import Book, Market, MarketRules, Quote
from trading.execution.paper_orders import market_rules
from trading.feeds import Bar
from trading.price_selectors import replay_feed, tickers_latest

MAX_BARS = 2100  # the longest lookback a strategy may ask for (sma_cross slow <= 2000)
MIN_BARS = 50
NO_PRICE_YET = "no price yet for this symbol"


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class SymbolFeed:
    """What every bot on one symbol sees this tick."""

    symbol: str
    timeframe: str = "1m"
    bars: list[Bar] = field(default_factory=list)
    market: Market | None = None
    price: Decimal | None = None  # marks equity
    note: str = ""  # why bots on this symbol do nothing this tick
    rules: MarketRules | None = None

    @property
    def newest_ms(self) -> int | None:
        return self.bars[-1].ts_ms if self.bars else None


def missed_bars(feed: SymbolFeed, last_bar_ms: int | None, closed_after_ms: int | None = None) -> int:
    """How many of the feed's closed bars are newer than the bot's last evaluated one (a bot that never ran:
    1, it starts at the newest). `closed_after_ms`: count only the candles (of the feed's timeframe) that closed after it (the
    bot's start), with at least the newest one."""
    if last_bar_ms is None or (len(feed.bars) > 1 and feed.bars[-2].ts_ms == last_bar_ms):
        return 1  # never ran, or the usual case: the previous candle was its last
    stamps = [b.ts_ms for b in feed.bars[-(settings.BOT_TICK_CATCHUP_BARS + 2):]]
    if stamps[0] > last_bar_ms:
        return len(feed.bars)  # further behind than any catch-up
    since = last_bar_ms if closed_after_ms is None else max(last_bar_ms, closed_after_ms - frame_ms(feed.timeframe) - 1)
    return max(1, len(stamps) - bisect.bisect_right(stamps, since))


def feed_back(feed: SymbolFeed, back: int) -> SymbolFeed:
    """The feed as a tick `back` closed bars ago saw it, to evaluate a missed bar: closed bars up to that
    one, filled at the next bar's open (candle data, as the backtest fills), equity at its close."""
    bars = feed.bars[:-back]
    nxt = feed.bars[-back]
    return SymbolFeed(feed.symbol, feed.timeframe, bars=bars, market=Market(next_open=nxt.open, ts_ms=nxt.ts_ms),
                      price=bars[-1].close, rules=feed.rules)


# --- market data for the tick ---------------------------------------------------------------

_parsed_cache: dict[str, dict] = {}


def parsed(value):
    """Params and fill overrides repeat across bots: parse each distinct text once (read-only use)."""
    if not isinstance(value, str):
        return value
    parsed = _parsed_cache.get(value)
    if parsed is None:
        if len(_parsed_cache) > 10_000:
            _parsed_cache.clear()
        parsed = _parsed_cache[value] = json.loads(value)
    return parsed


_lookback_cache: dict[str, int] = {}


def lookback(params: dict | str) -> int:
    if isinstance(params, str):
        cached = _lookback_cache.get(params)
        if cached is None:
            if len(_lookback_cache) > 10_000:
                _lookback_cache.clear()
            cached = _lookback_cache[params] = lookback(json.loads(params))
        return cached
    numbers = [v for v in (params or {}).values() if isinstance(v, int) and not isinstance(v, bool)]
    return min(MAX_BARS, max([MIN_BARS, *[n + 2 for n in numbers]]))


_candle_cache: dict[tuple[str, str, int, int], list[Bar]] = {}


def _candle_bars(exchange: str, symbol: str, before_ms: int, limit: int) -> list[Bar]:
    """The 1m candles that closed before `before_ms` (cached per minute: they cannot change)."""
    key = (exchange, symbol, before_ms, limit)
    bars = _candle_cache.get(key)
    if bars is None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT ts, open, high, low, close, volume FROM trading_candle "
                "WHERE exchange = %s AND symbol = %s AND timeframe = '1m' AND ts < %s ORDER BY ts DESC LIMIT %s",
                [exchange, symbol, to_dt(before_ms), limit])
            rows = cur.fetchall()
        bars = [Bar(to_ms(ts), o, h, lo, c, v) for ts, o, h, lo, c, v in reversed(rows)]
        if len(_candle_cache) > 2000:
            _candle_cache.clear()
        _candle_cache[key] = bars
    return bars


def _frame_bars(exchange: str, symbol: str, timeframe: str, now_ms: int, want: int) -> list[Bar]:
    """The `want` newest candles of `timeframe` that closed before `now_ms`, from the stored 1m candles."""
    if timeframe == "1m":
        return _candle_bars(exchange, symbol, frame_start(now_ms, 60_000), want)
    frame = frame_ms(timeframe)
    cut = frame_start(now_ms, frame)  # the same for the whole frame: the read below is cached until it closes
    limit = (want + 1) * minutes_per(timeframe)
    minutes = _candle_bars(exchange, symbol, cut, limit)
    bars = aggregate(minutes, frame, before_ms=cut)
    if len(minutes) == limit and bars:
        bars = bars[1:]  # its older minutes were not read: never decide on a partial candle
    return bars[-want:]


_replay_cache: dict[tuple[int, int, str], list[Bar]] = {}


def _replay_frame(bars: list[Bar], idx: int, timeframe: str) -> list[Bar]:
    """Replay: the recorded 1m bars up to the step as `timeframe` candles closed before the next bar opens."""
    if timeframe == "1m":
        return bars[:idx + 1]  # one C-level copy per symbol: list indexing beats a lazy view
    key = (id(bars), idx, timeframe)
    out = _replay_cache.get(key)
    if out is None:
        if len(_replay_cache) > 64:
            _replay_cache.clear()
        out = _replay_cache[key] = aggregate(bars[:idx + 1], frame_ms(timeframe), before_ms=bars[idx + 1].ts_ms)
    return out


def feeds_for(exchange: str, symbols: dict[tuple[str, str], int], now: float) -> dict[tuple[str, str], SymbolFeed]:
    """symbols: (symbol, timeframe) -> bars wanted. One ticker read for all of them."""
    tickers = tickers_latest(exchange=exchange, symbols=sorted({s for s, _tf in symbols}))
    out: dict[tuple[str, str], SymbolFeed] = {}
    now_ms = int(now * 1000)
    for (symbol, timeframe), want in symbols.items():
        feed = SymbolFeed(symbol, timeframe)
        out[(symbol, timeframe)] = feed
        tick = tickers.get(symbol)
        if tick is None:
            feed.note = NO_PRICE_YET
            continue
        if tick.stale:
            feed.note = f"stale price: {tick.reason}"[:200]
            continue
        if settings.MARKET_DATA_SOURCE == "replay":
            replay = replay_feed(exchange, symbol)
            if replay is None or tick.exchange_ts is None:
                feed.note = "no recorded data for this symbol"
                continue
            bars = replay.bars
            idx = _index(replay, tick.exchange_ts)
            if idx is None:
                feed.note = "the replayed candle is not in the recording"
                continue
            if idx + 1 >= len(bars):
                feed.note = "end of the recording: no next candle to fill at"
                continue
            # parity with the backtest: closed = bars[:n], fills at bars[n].open (n = idx + 1)
            feed.bars = _replay_frame(bars, idx, timeframe)
            if not feed.bars:
                feed.note = f"warming up: no closed {timeframe} candle yet"
                continue
            nxt = bars[idx + 1]
            feed.market = Market(next_open=nxt.open, ts_ms=nxt.ts_ms)
            feed.price = bars[idx].close
        else:
            if tick.bid is None or tick.ask is None or tick.last is None:
                feed.note = "incomplete ticker"
                continue
            feed.bars = _frame_bars(exchange, symbol, timeframe, now_ms, want)
            if not feed.bars:
                feed.note = "no closed candle yet" if timeframe == "1m" else f"warming up: no closed {timeframe} candle yet"
                continue
            feed.market = Market(quote=Quote(tick.bid, tick.ask, tick.last, tick.exchange_ts),
                                 ts_ms=int(tick.received_at * 1000))
            feed.price = tick.last
        feed.rules = market_rules(exchange=exchange, symbol=symbol)
    return out


_index_cache: dict[int, list[int]] = {}


def _index(replay, ts_ms: int) -> int | None:
    key = id(replay.bars)
    stamps = _index_cache.get(key)
    if stamps is None or len(stamps) != len(replay.bars):
        stamps = [b.ts_ms for b in replay.bars]
        _index_cache[key] = stamps
    i = bisect.bisect_left(stamps, ts_ms)
    return i if i < len(stamps) and stamps[i] == ts_ms else None


def order_book(exchange: str, symbol: str, levels: int, notes: dict) -> Book | None:
    """The top of the exchange's book as the engine's Book, or None (recorded in the tick's notes)."""
    try:
        raw = fetch_order_book(public_client(exchange), symbol, limit=max(5, min(levels, 100)))
        sides = []
        for name in ("bids", "asks"):
            rows = []
            for level in raw[name][:levels]:
                price, amount = Decimal(str(level[0])), Decimal(str(level[1]))
                if not (price.is_finite() and amount.is_finite() and price > 0 and amount > 0):
                    raise ValueError(f"bad {name} level")
                rows.append((price, amount))
            sides.append(rows)
        bids, asks = sides
        if not bids or not asks or bids[0][0] >= asks[0][0]:
            raise ValueError("empty or crossed book")
        ts = raw.get("timestamp")
        return Book(bids=bids, asks=asks, ts_ms=int(ts) if isinstance(ts, int | float) else None)
    except Exception as exc:  # noqa: BLE001 - no book is not an outage: fills fall back to ask/bid
        notes[f"no order book for {symbol}"] = str(getattr(exc, "message", exc))[:200]
        return None
