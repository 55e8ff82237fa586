"""The price heartbeat: poll each exchange in use with ONE batched call, validate, store, push.

Latest tickers live in a Redis hash per exchange (`prices:<exchange>`, field = symbol,
value = Tick JSON); 1-minute candles built from them go to PostgreSQL. Every failure marks
tickers stale with a reason (logged when the reason changes, not every tick) and never
escapes the poll. Minutes no poll saw at all (an outage) are filled from the exchange's own
candles on the first poll after (ccxt source, `_candles_backfill`), so the next tick can
evaluate the candles its bots missed.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from config.redis import get_redis
from exchanges.adapter import ExchangeError, fetch_tickers, public_client
from trading.feeds import SyntheticFeed, Tick, stale_tick, validate_ticker
from trading.groups import price_group
from trading.loop import BackgroundLoop, group_send
from trading.models import Bot
from trading.price_selectors import (
    PRICES_KEY,
    STEP_KEY,
    SUBS_KEY,
    replay_feed,
    symbols_in_use,
    tickers_latest,
    tickers_parse,
)
from trading.services.candles import candles_backfill

log = logging.getLogger(__name__)

LOCK_KEY = "prices:lock:{exchange}"
REASON_KEY = "prices:reason:{exchange}"
BACKFILL_KEY = "prices:backfilled:{exchange}"  # the minute whose earlier candles are known to be complete
SUBSCRIPTION_TTL = 120


@dataclass
class PollResult:
    exchange: str
    skipped: bool = False
    ticks: list[Tick] = field(default_factory=list)
    tick_key: int | None = None  # set when the exchange has running bots to run for these prices

    @property
    def stale(self) -> list[Tick]:
        return [t for t in self.ticks if t.stale]


# --- polling -----------------------------------------------------------------------

def subscriptions_touch(*, exchange: str, symbols: list[str], client=None) -> None:
    """An open page wants these symbols polled for the next couple of minutes (`client`: a pipeline to
    send it in, else the Redis client)."""
    if not symbols:
        return
    until = time.time() + SUBSCRIPTION_TTL
    (client or get_redis()).zadd(SUBS_KEY.format(exchange=exchange), {s: until for s in symbols})


def tickers_for_page(*, exchange: str, symbols: list[str]) -> dict[str, Tick | None]:
    """subscriptions_touch and tickers_latest in one round trip: what GET /api/prices/live/ does."""
    if not symbols:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    subscriptions_touch(exchange=exchange, symbols=symbols, client=pipe)
    pipe.hmget(PRICES_KEY.format(exchange=exchange), symbols)
    _, raw = pipe.execute()
    return tickers_parse(exchange=exchange, symbols=symbols, raw=raw)


def _fetch_ccxt(exchange: str, symbols: list[str], now: float) -> dict[str, Tick]:
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


def _replay_resume_step(exchange: str, symbols: list[str]) -> int | None:
    """Where the replay stood, from the bots: the step after the newest candle a running bot evaluated."""
    steps = []
    for s in symbols:
        feed = replay_feed(exchange, s)
        if feed is None:
            continue
        with connection.cursor() as cur:
            cur.execute("SELECT max((state->'engine'->>'last_bar_ms')::bigint) FROM trading_bot "
                        "WHERE exchange = %s AND symbol = %s AND status = 'running'", [exchange, s])
            last_ms = cur.fetchone()[0]
        if last_ms is None:
            continue
        stamps = [b.ts_ms for b in feed.bars]
        i = bisect.bisect_left(stamps, last_ms)
        if i < len(stamps) and stamps[i] == last_ms:
            steps.append(i + 1)
    return max(steps) if steps else None


def _fetch_replay(exchange: str, symbols: list[str], now: float) -> dict[str, Tick]:
    r = get_redis()
    key = STEP_KEY.format(exchange=exchange)
    if not r.exists(key):
        # Redis lost the step (restarted without its data): go on where the bots are, not from the first
        # candle (they would sit idle until the replay came back to where they stood)
        resume = _replay_resume_step(exchange, symbols)
        if resume and r.set(key, resume, nx=True):
            log.warning("replay step for %s lost (Redis restarted?): resuming at step %d", exchange, resume)
    step = r.incrby(key, settings.MARKET_DATA_REPLAY_SPEED) - 1
    out = {}
    for s in symbols:
        feed = replay_feed(exchange, s)
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


def _candles_backfill(exchange: str, ticks: list[Tick], now: float) -> int:
    """ccxt source: if a symbol's newest stored closed 1m candle is older than the previous minute, no poll
    saw the minutes in between (Redis or PostgreSQL down, no worker, beat stopped): fetch them from the
    exchange (fetch_ohlcv from that newest stored candle, which the polls may have seen only part of, to the
    previous minute; at most PRICE_BACKFILL_BARS back), so the next tick catches up the candles its bots
    missed (BOT_TICK_CATCHUP_BARS). Checked once a minute per exchange (one indexed read for all symbols);
    a symbol that never had a candle is not backfilled (nothing says where it started). Returns candles
    stored; never raises into the poll (a failure is logged and tried again on the next poll)."""
    if settings.MARKET_DATA_SOURCE != "ccxt" or settings.PRICE_BACKFILL_BARS <= 0:
        return 0
    symbols = sorted({t.symbol for t in ticks if not t.stale and t.last is not None})
    if not symbols:
        return 0
    minute_ms = int(now // 60) * 60_000
    r = get_redis()
    mark = BACKFILL_KEY.format(exchange=exchange)
    if r.get(mark) == str(minute_ms):
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT s, (SELECT max(ts) FROM trading_candle WHERE exchange = %s AND symbol = s "
                    "AND timeframe = '1m' AND ts < %s) FROM unnest(%s::text[]) AS s",
                    [exchange, datetime.fromtimestamp(minute_ms / 1000, tz=UTC), symbols])
        newest = {s: int(ts.timestamp() * 1000) for s, ts in cur.fetchall() if ts is not None}
    stored, failed = 0, False
    oldest = minute_ms - settings.PRICE_BACKFILL_BARS * 60_000
    for symbol, last_ms in sorted(newest.items()):
        if last_ms >= minute_ms - 60_000:
            continue  # the previous minute is there: nothing missing
        try:
            n = candles_backfill(exchange=exchange, symbol=symbol, since_ms=max(last_ms, oldest), until_ms=minute_ms)
        except Exception as exc:  # noqa: BLE001 - the poll's prices are stored already; try again next poll
            failed = True
            log.warning("could not backfill the 1m candles of %s %s since %s: %s", exchange, symbol,
                        datetime.fromtimestamp(last_ms / 1000, tz=UTC).isoformat(), getattr(exc, "message", exc))
            continue
        stored += n
        log.info("backfilled %d 1m candle(s) of %s %s that no poll saw (since %s)", n, exchange, symbol,
                 datetime.fromtimestamp(last_ms / 1000, tz=UTC).isoformat())
    if not failed:
        r.set(mark, str(minute_ms), ex=600)
    return stored


async def _publish_all(ticks: list[Tick]) -> None:
    for t in ticks:
        data = t.to_json()
        # Serialized once here, not once per connected client in every consumer.
        text = json.dumps({"type": "tick", **data})
        await group_send(price_group(t.exchange, t.symbol), {"type": "price.tick", "tick": data, "text": text})


class _Publisher:
    """Ticks go out on the process's long-lived loop (trading.loop), not a new one per poll."""

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
        _candles_backfill(exchange, ticks, now)
        publish(ticks)
        return PollResult(exchange, ticks=ticks, tick_key=_tick_key(exchange, now))
    finally:
        # release only our own lock
        if r.get(lock_key) == token:
            r.delete(lock_key)


def _tick_key(exchange: str, now: float) -> int | None:
    """This poll's tick key if the exchange has running bots to run for it (the poll task enqueues the tick)."""
    if not settings.ENABLE_TRADING:
        return None
    try:
        if not Bot.objects.filter(exchange=exchange, status="running").exists():
            return None
    except Exception:  # noqa: BLE001 - prices are stored and pushed already
        log.exception("could not tell whether %s has running bots", exchange)
        return None
    return int(now * 1000)


def prices_poll_all() -> list[PollResult]:
    return [prices_poll(exchange=e, symbols=s) for e, s in symbols_in_use().items()]
