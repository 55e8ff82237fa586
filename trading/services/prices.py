"""The price heartbeat: poll each exchange in use with ONE batched call, validate, store, push.

Latest tickers live in a Redis hash per exchange (`prices:<exchange>`, field = symbol,
value = Tick JSON); 1-minute candles built from them go to PostgreSQL. Every failure marks
tickers stale with a reason (logged when the reason changes, not every tick) and never
escapes the poll.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from config.redis import get_redis
from trading.feeds import (
    ReplayFeed,
    SyntheticFeed,
    Tick,
    parse_csv_name,
    read_csv,
    stale_tick,
    validate_ticker,
)
from trading.groups import price_group
from trading.models import WatchlistItem
from trading.services.loop import BackgroundLoop

log = logging.getLogger(__name__)

PRICES_KEY = "prices:{exchange}"
LOCK_KEY = "prices:lock:{exchange}"
REASON_KEY = "prices:reason:{exchange}"
STEP_KEY = "prices:step:{exchange}"
SUBS_KEY = "prices:subs:{exchange}"  # sorted set: symbol -> unix time until which a page wants it
SUBSCRIPTION_TTL = 120


@dataclass
class PollResult:
    exchange: str
    skipped: bool = False
    ticks: list[Tick] = field(default_factory=list)

    @property
    def stale(self) -> list[Tick]:
        return [t for t in self.ticks if t.stale]


# --- what is in use --------------------------------------------------------------------

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
    for exchange, symbol in _bot_symbols():
        wanted.setdefault(exchange, set()).add(symbol)
    r = get_redis()
    now = time.time()
    for exchange in settings.SUPPORTED_EXCHANGES:
        key = SUBS_KEY.format(exchange=exchange)
        r.zremrangebyscore(key, 0, now)
        for symbol in r.zrange(key, 0, -1):
            wanted.setdefault(exchange, set()).add(symbol)
    return {e: s for e, s in wanted.items() if e in settings.SUPPORTED_EXCHANGES}


def _bot_symbols() -> list[tuple[str, str]]:
    try:
        from trading.models import Bot
    except ImportError:  # bots arrive with paper trading
        return []
    return list(Bot.objects.filter(status="running").values_list("exchange", "symbol").distinct())


def subscriptions_touch(*, exchange: str, symbols: list[str]) -> None:
    """An open page wants these symbols polled for the next couple of minutes."""
    if not symbols:
        return
    until = time.time() + SUBSCRIPTION_TTL
    get_redis().zadd(SUBS_KEY.format(exchange=exchange), {s: until for s in symbols})


# --- reading -----------------------------------------------------------------------

def tickers_latest(*, exchange: str, symbols: list[str]) -> dict[str, Tick | None]:
    """The stored tickers, marked stale if they are older than PRICE_STALE_AFTER_SECONDS."""
    if not symbols:
        return {}
    raw = get_redis().hmget(PRICES_KEY.format(exchange=exchange), symbols)
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


# --- polling -----------------------------------------------------------------------

def _fetch_ccxt(exchange: str, symbols: list[str], now: float) -> dict[str, Tick]:
    from exchanges.adapter import ExchangeError, fetch_tickers, public_client

    try:
        raw = fetch_tickers(public_client(exchange), symbols)
    except ExchangeError as exc:
        return {s: stale_tick(exchange, s, exc.message, now) for s in symbols}
    except Exception as exc:  # noqa: BLE001 - junk from an exchange must never crash the poll
        log.exception("unexpected error polling %s", exchange)
        return {s: stale_tick(exchange, s, f"unexpected error: {exc.__class__.__name__}", now) for s in symbols}
    if not isinstance(raw, dict):
        return {s: stale_tick(exchange, s, "malformed reply from the exchange", now) for s in symbols}
    return {s: validate_ticker(exchange, s, raw.get(s), now) for s in symbols}


_replay_cache: dict[tuple[str, str], ReplayFeed | None] = {}


def _replay_feed(exchange: str, symbol: str) -> ReplayFeed | None:
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


def _fetch_replay(exchange: str, symbols: list[str], now: float) -> dict[str, Tick]:
    step = get_redis().incrby(STEP_KEY.format(exchange=exchange), settings.MARKET_DATA_REPLAY_SPEED) - 1
    out = {}
    for s in symbols:
        feed = _replay_feed(exchange, s)
        out[s] = feed.tick(step, now) if feed else stale_tick(exchange, s, "no recorded data for this symbol", now,
                                                               "replay")
    return out


def _fetch_synthetic(exchange: str, symbols: list[str], now: float) -> dict[str, Tick]:
    r = get_redis()
    step = r.incr(STEP_KEY.format(exchange=exchange))
    previous = tickers_latest(exchange=exchange, symbols=symbols)
    out = {}
    for s in symbols:
        feed = SyntheticFeed(exchange, s, settings.MARKET_DATA_SYNTHETIC_SEED)
        prev = previous.get(s)
        last = feed.next_price(prev.last, step) if prev and prev.last else feed.price(step)
        out[s] = feed.tick_from(last, now)
    return out


def _store(exchange: str, ticks: list[Tick]) -> list[Tick]:
    """Save the ticks; a stale one keeps the last good prices (flagged) for display. Returns what was saved."""
    if not ticks:
        return []
    r = get_redis()
    key = PRICES_KEY.format(exchange=exchange)
    previous = tickers_latest(exchange=exchange, symbols=[t.symbol for t in ticks if t.stale])
    saved = []
    for t in ticks:
        before = previous.get(t.symbol)
        if t.stale and before is not None and before.last is not None:
            t = stale_tick(exchange, t.symbol, t.reason, t.received_at, t.source, previous=before)
        saved.append(t)
    r.hset(key, mapping={t.symbol: json.dumps(t.to_json()) for t in saved})
    return saved


def _candles_upsert(ticks: list[Tick]) -> None:
    """Fold each good tick into its 1-minute candle (open stays, high/low widen, close moves)."""
    rows = []
    for t in ticks:
        if t.stale or t.last is None:
            continue
        minute = datetime.fromtimestamp(int(t.received_at // 60 * 60), tz=UTC)
        rows.append((t.exchange, t.symbol, "1m", minute, t.last, t.last, t.last, t.last, Decimal(0)))
    if not rows:
        return
    with connection.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO trading_candle (exchange, symbol, timeframe, ts, open, high, low, close, volume)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET
              high = GREATEST(trading_candle.high, EXCLUDED.high),
              low = LEAST(trading_candle.low, EXCLUDED.low),
              close = EXCLUDED.close
            """,
            rows,
        )


async def _publish_all(ticks: list[Tick]) -> None:
    layer = get_channel_layer()
    for t in ticks:
        data = t.to_json()
        # Serialized once here, not once per connected client in every consumer.
        text = json.dumps({"type": "tick", **data})
        await layer.group_send(price_group(t.exchange, t.symbol), {"type": "price.tick", "tick": data, "text": text})


class _Publisher:
    """Ticks go out on the process's long-lived loop (trading.services.loop), not a new one per poll."""

    def __init__(self):
        self._loop = BackgroundLoop("price-publisher")

    def send(self, ticks: list[Tick], timeout: float = 5.0) -> None:
        self._loop.submit(_publish_all(ticks)).result(timeout=timeout)


_publisher = _Publisher()


def publish(ticks: list[Tick]) -> None:
    """Push ticks to every subscribed browser. A failure is logged, never raised into the poll."""
    if not ticks:
        return
    try:
        _publisher.send(ticks)
    except Exception:  # noqa: BLE001 - live push is best effort; prices are stored already
        log.exception("could not publish %d tick(s)", len(ticks))


def _log_reason_change(exchange: str, ticks: list[Tick]) -> None:
    reasons = sorted({t.reason for t in ticks if t.stale})
    summary = "; ".join(reasons)
    key = REASON_KEY.format(exchange=exchange)
    r = get_redis()
    if r.getset(key, summary) != summary:
        if summary:
            log.warning("prices from %s are stale: %s", exchange, summary)
        else:
            log.info("prices from %s are fresh again", exchange)


def prices_poll(*, exchange: str, symbols: set[str] | None = None) -> PollResult:
    """Poll one exchange once. Overlapping polls of one exchange never run at once."""
    r = get_redis()
    lock_key = LOCK_KEY.format(exchange=exchange)
    token = uuid.uuid4().hex
    if not r.set(lock_key, token, nx=True, px=int(max(settings.PRICE_POLL_SECONDS, 1) * 5000)):
        return PollResult(exchange, skipped=True)
    try:
        if symbols is None:
            symbols = symbols_in_use().get(exchange, set())
        wanted = sorted(symbols)
        if not wanted:
            return PollResult(exchange)
        now = time.time()
        fetch = {"ccxt": _fetch_ccxt, "replay": _fetch_replay, "synthetic": _fetch_synthetic}[
            settings.MARKET_DATA_SOURCE]
        ticks = list(fetch(exchange, wanted, now).values())
        _log_reason_change(exchange, ticks)
        ticks = _store(exchange, ticks)
        _candles_upsert(ticks)
        publish(ticks)
        _bots_tick_enqueue(exchange, int(now * 1000))
        return PollResult(exchange, ticks=ticks)
    finally:
        # release only our own lock
        if r.get(lock_key) == token:
            r.delete(lock_key)


def _bots_tick_enqueue(exchange: str, tick_key: int) -> None:
    """Run the exchange's bots for this tick on a worker (trading.services.ticks). Never fails the poll."""
    if not settings.ENABLE_TRADING:
        return
    try:
        from trading.models import Bot

        if not Bot.objects.filter(exchange=exchange, status="running").exists():
            return
        from trading.tasks import run_bots_tick

        run_bots_tick.delay(exchange, tick_key)
    except Exception:  # noqa: BLE001 - prices are stored and pushed already
        log.exception("could not enqueue the bots' tick for %s", exchange)


def prices_poll_all() -> list[PollResult]:
    return [prices_poll(exchange=e, symbols=s) for e, s in symbols_in_use().items()]
