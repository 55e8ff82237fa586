"""Reads of prices: what is in use, the latest stored tickers, recorded replay data, feed health.

The poll (trading/services/prices.py) writes the Redis hash `prices:<exchange>`; everything that only
reads prices (the tick, pages, the API, the risk monitor, the system status) reads through here.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.conf import settings

from config.redis import get_redis
from trading.feeds import ReplayFeed, Tick, parse_csv_name, read_csv, stale_tick
from trading.models import Bot, WatchlistItem

log = logging.getLogger(__name__)

PRICES_KEY = "prices:{exchange}"
STEP_KEY = "prices:step:{exchange}"
SUBS_KEY = "prices:subs:{exchange}"  # sorted set: symbol -> unix time until which a page wants it


def _split(pair: str) -> tuple[str, str]:
    exchange, _, symbol = pair.partition(":")
    return exchange.strip(), symbol.strip()


def symbols_in_use() -> dict[str, set[str]]:
    """Every symbol any running bot, watchlist, default watchlist or open page needs, per exchange."""
    wanted: dict[str, set[str]] = {}
    for pair in settings.DEFAULT_WATCHLIST:
        exchange, symbol = _split(pair)
        if exchange and symbol:
            wanted.setdefault(exchange, set()).add(symbol)
    for exchange, symbol in WatchlistItem.objects.values_list("exchange", "symbol").distinct():
        wanted.setdefault(exchange, set()).add(symbol)
    for exchange, symbol in Bot.objects.filter(status="running").values_list("exchange", "symbol").distinct():
        wanted.setdefault(exchange, set()).add(symbol)
    r = get_redis()
    now = time.time()
    for exchange in settings.SUPPORTED_EXCHANGES:
        key = SUBS_KEY.format(exchange=exchange)
        r.zremrangebyscore(key, 0, now)
        for symbol in r.zrange(key, 0, -1):
            wanted.setdefault(exchange, set()).add(symbol)
    return {e: s for e, s in wanted.items() if e in settings.SUPPORTED_EXCHANGES}


def tickers_latest(*, exchange: str, symbols: list[str]) -> dict[str, Tick | None]:
    """The stored tickers, marked stale if they are older than PRICE_STALE_AFTER_SECONDS."""
    if not symbols:
        return {}
    return tickers_parse(exchange=exchange, symbols=symbols, raw=get_redis().hmget(PRICES_KEY.format(exchange=exchange),
                                                                                   symbols))


def tickers_parse(*, exchange: str, symbols: list[str], raw: list[str | None]) -> dict[str, Tick | None]:
    """The stored tickers from what HMGET of PRICES_KEY returned for `symbols` (tickers_latest)."""
    now = time.time()
    out: dict[str, Tick | None] = {}
    for symbol, value in zip(symbols, raw, strict=True):
        if value is None:
            out[symbol] = None
            continue
        tick = Tick.from_json(json.loads(value))
        age = now - tick.received_at
        if not tick.stale and age > settings.PRICE_STALE_AFTER_SECONDS:
            tick = stale_tick(exchange, symbol, f"no update for {age:.0f}s", now, tick.source, previous=tick)
        out[symbol] = tick
    return out


_replay_cache: dict[tuple[str, str], ReplayFeed | None] = {}


def replay_feed(exchange: str, symbol: str) -> ReplayFeed | None:
    """The recorded candles for a symbol under MARKET_DATA_REPLAY_PATH (read once per process)."""
    key = (exchange, symbol)
    if key not in _replay_cache:
        feed = None
        base, _, quote = symbol.partition("/")
        candidates = sorted(Path(settings.MARKET_DATA_REPLAY_PATH).glob(f"{exchange}_{base}-{quote}_*.csv"))
        for path in candidates:
            try:
                parse_csv_name(path)
                feed = ReplayFeed(exchange, symbol, read_csv(path))
                break
            except ValueError as exc:
                log.error("replay file rejected: %s", exc)
        _replay_cache[key] = feed
    return _replay_cache[key]


def feed_health() -> dict:
    """Per exchange in use: how many symbols are fresh / stale, and why; never raises."""
    out = {"source": settings.MARKET_DATA_SOURCE, "healthy": True, "exchanges": []}
    try:
        for exchange, symbols in sorted(symbols_in_use().items()):
            ticks = tickers_latest(exchange=exchange, symbols=sorted(symbols))
            stale = {s: (t.reason if t is not None else "not polled yet")
                     for s, t in ticks.items() if t is None or t.stale}
            out["exchanges"].append({"exchange": exchange, "symbols": len(ticks), "stale": len(stale),
                                     "stale_reasons": stale})
            out["healthy"] = out["healthy"] and not stale
    except Exception as exc:  # Redis down: say so instead of failing the status page
        log.warning("feed health unavailable: %s", exc.__class__.__name__)
        out.update(healthy=False, error="price store unavailable")
    return out
