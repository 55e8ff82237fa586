"""Run every running paper bot of an exchange for one price tick.

`tick_run(exchange=..., tick_key=...)` is called (via the `trading.run_bots_tick` task) after each
price poll. Per tick:

1. ONE query lists the exchange's running bots (id, symbol, last evaluated candle); ONE Redis read
   gets the tickers; closed candles are loaded ONCE per symbol (replay: the recorded bars up to the
   replay step, exactly as the backtest sees them; ccxt/synthetic: the 1m candles closed before now).
2. Bots on a stale or missing ticker are skipped with the reason in `Bot.last_tick_note`; bots that
   already evaluated the newest closed candle have nothing to do and are not touched at all.
3. The rest go in chunks of `BOT_TICK_CHUNK`. Each chunk is one transaction that first CLAIMS its bots:
   an UPDATE that sets `last_tick_key` only where it is still lower than this tick's key, on rows locked
   FOR NO KEY UPDATE in id order, returning the bots' fresh rows. A retried task, a redelivered message
   (acks_late + reject_on_worker_lost) or a second worker on the same tick finds nothing to claim, or
   waits on the row locks and then finds the claim taken: it can never fill twice. `Order.client_id`
   (`<candle ms>:<n>`, unique per bot) is a second guard in the database.
4. Each claimed bot is evaluated by the pure engine (`trading.engine.runner.evaluate`), with the risk
   gate (`risk.services.order_gate`) called for every order inside this same transaction; then the
   chunk's orders, fills, wallets, strategy states and equity points are written with a handful of
   set-based statements. A bot's writes are never split across transactions. If a chunk fails in the
   database, its bots are retried one bot per transaction, so one bad row never blocks the others.

A paper bot never loads or decrypts an exchange key: nothing here touches keys.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from trading.engine.runner import GateRequest, evaluate
from trading.engine.types import (
    Book,
    FillConfig,
    Market,
    MarketRules,
    Quote,
    RestingOrder,
    StepResult,
    Wallet,
)
from trading.feeds import Bar
from trading.models import Bot, Fill, Order, TickRun
from trading.services.events import events_on_commit, fill_json, order_json
from trading.services.orders import fill_config_for, market_rules, platform_fill_config

log = logging.getLogger(__name__)

MAX_BARS = 2100  # the longest lookback a strategy may ask for (sma_cross slow <= 2000)
MIN_BARS = 50


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class SymbolFeed:
    """What every bot on one symbol sees this tick."""

    symbol: str
    bars: list[Bar] = field(default_factory=list)
    market: Market | None = None
    price: Decimal | None = None  # marks equity
    note: str = ""  # why bots on this symbol do nothing this tick
    rules: MarketRules | None = None

    @property
    def newest_ms(self) -> int | None:
        return self.bars[-1].ts_ms if self.bars else None


@dataclass
class TickSummary:
    exchange: str
    tick_key: int
    bots: int = 0
    evaluated: int = 0
    skipped: int = 0
    idle: int = 0  # nothing new to evaluate
    claimed_elsewhere: int = 0
    orders: int = 0
    fills: int = 0
    errors: int = 0
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)


# --- market data for the tick ---------------------------------------------------------------

_parsed_cache: dict[str, dict] = {}


def _parsed(value):
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


def _lookback(params: dict | str) -> int:
    if isinstance(params, str):
        cached = _lookback_cache.get(params)
        if cached is None:
            if len(_lookback_cache) > 10_000:
                _lookback_cache.clear()
            cached = _lookback_cache[params] = _lookback(json.loads(params))
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
                [exchange, symbol, _dt(before_ms), limit])
            rows = cur.fetchall()
        bars = [Bar(_ms(ts), o, h, lo, c, v) for ts, o, h, lo, c, v in reversed(rows)]
        if len(_candle_cache) > 2000:
            _candle_cache.clear()
        _candle_cache[key] = bars
    return bars


def _feeds(exchange: str, symbols: dict[str, int], now: float) -> dict[str, SymbolFeed]:
    """symbols: symbol -> bars wanted. One ticker read for all of them."""
    from trading.services.prices import _replay_feed, tickers_latest

    tickers = tickers_latest(exchange=exchange, symbols=sorted(symbols))
    out: dict[str, SymbolFeed] = {}
    minute_start_ms = int(now // 60) * 60_000
    for symbol, want in symbols.items():
        feed = SymbolFeed(symbol)
        out[symbol] = feed
        tick = tickers.get(symbol)
        if tick is None:
            feed.note = "no price yet for this symbol"
            continue
        if tick.stale:
            feed.note = f"stale price: {tick.reason}"[:200]
            continue
        if settings.MARKET_DATA_SOURCE == "replay":
            replay = _replay_feed(exchange, symbol)
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
            feed.bars = bars[:idx + 1]  # one C-level copy per symbol: list indexing beats a lazy view
            nxt = bars[idx + 1]
            feed.market = Market(next_open=nxt.open, ts_ms=nxt.ts_ms)
            feed.price = bars[idx].close
        else:
            if tick.bid is None or tick.ask is None or tick.last is None:
                feed.note = "incomplete ticker"
                continue
            feed.bars = _candle_bars(exchange, symbol, minute_start_ms, want)
            if not feed.bars:
                feed.note = "no closed candle yet"
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


def _order_book(exchange: str, symbol: str, levels: int, summary: TickSummary) -> Book | None:
    """The top of the exchange's book as the engine's Book, or None (recorded in the tick's notes)."""
    from exchanges.adapter import fetch_order_book, public_client

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
        summary.notes[f"no order book for {symbol}"] = str(getattr(exc, "message", exc))[:200]
        return None


# --- risk hooks (the risk app may be absent in a minimal install) ------------------------------

_RISK: list = []


def _risk():
    """(risk.services, risk.checks), or None if the risk app is not installed."""
    if not _RISK:
        try:
            from risk import checks, services

            _RISK.append((services, checks))
        except ImportError:  # pragma: no cover - risk ships with the platform
            _RISK.append(None)
    return _RISK[0]


class _Limits:
    """Effective risk limits for the tick's bots: the policies are read ONCE per tick (risk.services.limits_for
    would be one query per bot) and combined by risk.services.effective_limits, cached per owner."""

    def __init__(self, exchange: str, owner_ids: set[int]):
        self.by_owner: dict[int, object] = {}
        self.policies_platform: list = []
        self.by_user: dict[int, list] = defaultdict(list)
        self.by_bot: dict[int, list] = defaultdict(list)
        risk = _risk()
        self.enabled = risk is not None
        if not self.enabled:
            return
        from django.db.models import Q

        from risk.models import RiskPolicy

        self.services = risk[0]
        rows = list(RiskPolicy.objects.filter(Q(scope=RiskPolicy.PLATFORM)
                                              | Q(scope=RiskPolicy.USER, user_id__in=list(owner_ids))
                                              | Q(scope=RiskPolicy.BOT, bot__exchange=exchange)))
        for p in rows:
            if p.scope == RiskPolicy.PLATFORM:
                self.policies_platform.append(p)
            elif p.scope == RiskPolicy.USER:
                self.by_user[p.user_id].append(p)
            elif p.scope == RiskPolicy.BOT:
                self.by_bot[p.bot_id].append(p)
        if not self.policies_platform:
            self.policies_platform = [self.services.platform_policy()]

    def get(self, bot_id: int, owner_id: int):
        if not self.enabled:
            return None
        own = self.by_bot.get(bot_id)
        if not own and owner_id in self.by_owner:
            return self.by_owner[owner_id]
        limits = self.services.limits_from(self.services.effective_limits(
            policies=[*self.policies_platform, *self.by_user.get(owner_id, []), *(own or [])]))
        if not own:
            self.by_owner[owner_id] = limits
        return limits


def _risk_memory(state: dict, now_ms: int, equity: Decimal) -> dict:
    """The bot's day-start / peak equity and order counters, kept in its state (no extra reads)."""
    mem = state.setdefault("risk", {})
    day = _dt(now_ms).strftime("%Y-%m-%d")
    if mem.get("day") != day:
        mem.update(day=day, day_start_equity=str(equity), trades_today=0)
    peak = Decimal(mem.get("peak_equity") or equity)
    mem["peak_equity"] = str(max(peak, equity))
    minute = now_ms // 60_000
    if mem.get("minute") != minute:
        mem.update(minute=minute, orders_minute=0)
    return mem


def _risk_state(mem: dict, *, equity: Decimal, wallet: Wallet, price: Decimal, open_orders: int, now_ms: int,
                reduce_only: bool, cooldown_until_ms: int | None = None):
    from risk.checks import RiskState

    return RiskState(equity=equity, day_start_equity=Decimal(mem["day_start_equity"]),
                     peak_equity=Decimal(mem["peak_equity"]), position_value=wallet.base * price,
                     open_trades=open_orders + (1 if wallet.base > 0 else 0), trades_today=mem["trades_today"],
                     orders_last_minute=mem["orders_minute"], reduce_only=reduce_only, now_ms=now_ms,
                     position_base=wallet.free_base, cooldown_until_ms=cooldown_until_ms)


def _bot_instance(row: dict) -> Bot:
    return Bot(id=row["id"], owner_id=row["owner_id"], name=row["name"], exchange=row["exchange"],
               symbol=row["symbol"], strategy=row["strategy"], params=row["params"], mode=Bot.Mode.PAPER,
               status=Bot.Status.RUNNING, starting_balance=row["starting_balance"], seed=row["seed"],
               base=row["base"], quote=row["quote"], base_reserved=row["base_reserved"],
               quote_reserved=row["quote_reserved"], reduce_only=row["reduce_only"])


# --- one chunk, one transaction ----------------------------------------------------------------

CLAIM_SQL = """
SELECT id, owner_id, name, exchange, symbol, strategy, params, state, seed, fill_overrides, base, quote,
       base_reserved, quote_reserved, starting_balance, reduce_only
FROM trading_bot
WHERE id = ANY(%(ids)b::bigint[]) AND status = 'running' AND archived_at IS NULL AND mode = 'paper'
  AND (last_tick_key IS NULL OR last_tick_key < %(key)s)
ORDER BY id
FOR NO KEY UPDATE
"""
CLAIM_COLUMNS = ["id", "owner_id", "name", "exchange", "symbol", "strategy", "params", "state", "seed",
                 "fill_overrides", "base", "quote", "base_reserved", "quote_reserved", "starting_balance",
                 "reduce_only"]

BOT_UPDATE_SQL = """
UPDATE trading_bot b SET state = u.state::jsonb, base = u.base, quote = u.quote, base_reserved = u.br,
    quote_reserved = u.qr, last_price = u.price, last_tick_note = u.note, updated_at = %(now)b,
    last_tick_key = %(key)s, last_tick_at = %(now)b
FROM unnest(%(ids)b::bigint[], %(states)b::text[], %(base)b::numeric[], %(quote)b::numeric[],
            %(br)b::numeric[], %(qr)b::numeric[], %(price)b::numeric[], %(note)b::text[])
     AS u(id, state, base, quote, br, qr, price, note)
WHERE b.id = u.id
"""

EQUITY_SQL = """
INSERT INTO trading_equitysnapshot (bot_id, ts, price, base, quote, equity)
SELECT * FROM unnest(%(ids)b::bigint[], %(ts)b::timestamptz[], %(price)b::numeric[], %(base)b::numeric[],
                     %(quote)b::numeric[], %(equity)b::numeric[])
ON CONFLICT (bot_id, ts) DO UPDATE SET price = EXCLUDED.price, base = EXCLUDED.base, quote = EXCLUDED.quote,
    equity = EXCLUDED.equity
"""


class _Chunk:
    def __init__(self, exchange: str, tick_key: int, feeds: dict[str, SymbolFeed], base_cfg: FillConfig,
                 summary: TickSummary, limits: _Limits):
        self.exchange, self.tick_key, self.feeds, self.base_cfg, self.summary, self.limits = (
            exchange, tick_key, feeds, base_cfg, summary, limits)
        self._cfg_cache: dict[str, FillConfig] = {}

    def cfg(self, overrides: dict) -> FillConfig:
        if not overrides:
            return self.base_cfg
        key = json.dumps(overrides, sort_keys=True)
        cfg = self._cfg_cache.get(key)
        if cfg is None:
            cfg = self._cfg_cache[key] = fill_config_for(overrides, base=self.base_cfg)
        return cfg

    def run(self, ids: list[int]) -> None:
        now = timezone.now()
        with transaction.atomic():
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cur:
                cur.execute(CLAIM_SQL, {"ids": ids, "key": self.tick_key, "now": now})
                rows = [dict(zip(CLAIM_COLUMNS, r, strict=True)) for r in cur.fetchall()]
            for r in rows:  # Django's PostgreSQL backend hands jsonb over as text
                r["params"] = _parsed(r["params"])
                r["fill_overrides"] = _parsed(r["fill_overrides"])
                if isinstance(r["state"], str):
                    r["state"] = json.loads(r["state"])
            self.summary.claimed_elsewhere += len(ids) - len(rows)
            if not rows:
                return
            rows.sort(key=lambda r: r["id"])
            open_by_bot: dict[int, list[Order]] = defaultdict(list)
            if any(r["base_reserved"] or r["quote_reserved"] for r in rows):
                # only bots holding reservations can have resting orders (a filled/cancelled order frees them)
                with_orders = [r["id"] for r in rows if r["base_reserved"] or r["quote_reserved"]]
                for o in Order.objects.filter(bot_id__in=with_orders, status__in=Order.OPEN_STATUSES):
                    open_by_bot[o.bot_id].append(o)
            limits = {r["id"]: self.limits.get(r["id"], r["owner_id"]) for r in rows}
            self._locked_switches: dict[int, list] = {}
            self._cooldown = self._cooldowns(rows, limits)
            if not _GATE_TAKES:
                _GATE_TAKES.update(_gate_params())
            writes = _Writes(now, self.tick_key, {r["id"] for r in rows})
            for row in rows:
                try:
                    self._one(row, open_by_bot.get(row["id"], []), limits.get(row["id"]), writes)
                except Exception as exc:  # noqa: BLE001 - one bot's bug never stops the others
                    log.exception("bot %s failed on tick %s", row["id"], self.tick_key)
                    self.summary.errors += 1
                    writes.note(row, f"error: {exc.__class__.__name__}")
            writes.flush(self.summary)

    def _one(self, row: dict, open_orders: list[Order], limits, writes: _Writes) -> None:
        feed = self.feeds[row["symbol"]]
        resting = [RestingOrder.from_json(o.resting) for o in open_orders if o.resting]
        wallet = Wallet(base=row["base"], quote=row["quote"], base_reserved=row["base_reserved"],
                        quote_reserved=row["quote_reserved"])
        state = row["state"] or {}
        step_key = feed.newest_ms
        now_ms = feed.market.ts_ms
        equity_before = wallet.quote + wallet.base * feed.price
        mem = _risk_memory(state, now_ms, equity_before)
        gate = self._gate(row, mem, len(resting), limits, self._cooldown.get(row["id"], 0)) if _risk() else None
        result: StepResult = evaluate(
            strategy_id=row["strategy"], params=row["params"], state=state, closed_bars=feed.bars,
            market=feed.market, wallet=wallet, open_orders=resting, rules=feed.rules, cfg=self.cfg(row["fill_overrides"]),
            seed=row["seed"], step_key=step_key, gate=gate)
        if not result.evaluated:
            self.summary.idle += 1
            return
        self.summary.evaluated += 1
        new_state = result.state
        new_state["risk"] = mem
        equity = result.wallet.quote + result.wallet.base * feed.price
        peak = Decimal(mem["peak_equity"])
        if equity > peak:
            mem["peak_equity"] = str(equity)
        writes.bot(row, result, new_state, feed, open_orders, equity)
        if limits is not None and equity < peak:  # below the peak: a loss/drawdown breaker may trip
            _services, checks = _risk()
            rstate = _risk_state(mem, equity=equity, wallet=result.wallet, price=feed.price,
                                 open_orders=len(result.open_orders), now_ms=now_ms, reduce_only=row["reduce_only"])
            decision = checks.check_breakers(rstate, limits)
            if decision is not None and not decision.allowed:
                writes.breaches.append((row["id"], rstate))

    def _gate(self, row: dict, mem: dict, open_count: int, limits, cooldown_until_ms: int):
        services, checks = _risk()
        bot_cache: list[Bot] = []

        def gate(req: GateRequest):
            if not bot_cache:
                bot_cache.append(_bot_instance(row))
            equity = req.wallet.quote + req.wallet.base * req.price
            rstate = _risk_state(mem, equity=equity, wallet=req.wallet, price=req.price, open_orders=open_count,
                                 now_ms=int(time.time() * 1000), reduce_only=row["reduce_only"],
                                 cooldown_until_ms=cooldown_until_ms)
            proposal = checks.OrderProposal(side=req.side, amount=req.amount, price=req.price,
                                            reduces_position=req.reduces_position)
            kwargs = {"limits": limits} if limits is not None and _GATE_TAKES.get("limits") else {}
            if _GATE_TAKES.get("switches"):
                kwargs["switches"] = self._switches(row["owner_id"])
            decision = services.order_gate(bot=bot_cache[0], proposal=proposal, state=rstate, **kwargs)
            if decision.allowed:  # counted like the backtest counts them (risk.checks' trades_today)
                mem["trades_today"] = mem.get("trades_today", 0) + 1
                mem["orders_minute"] = mem.get("orders_minute", 0) + 1
            return decision

        return gate

    def _switches(self, owner_id: int):
        """The owner's kill-switch rows, locked FOR SHARE once per chunk transaction (held until it ends)."""
        rows = self._locked_switches.get(owner_id)
        if rows is None:
            services, _checks = _risk()
            rows = self._locked_switches[owner_id] = services.switches_lock_for_order(user_id=owner_id)
        return rows

    def _cooldowns(self, rows: list[dict], limits: dict) -> dict[int, int]:
        """End of each bot's risk cool-down (wall-clock ms; 0 = none) with one query per chunk.

        Only breaches recent enough to still cool a bot down matter: the query reads the breach events
        of the last (longest cool-down) minutes through the created_at index, not every bot's history.
        """
        minutes = {r["id"]: getattr(limits.get(r["id"]), "cooldown_minutes", None) for r in rows}
        wanted = {bot_id for bot_id, m in minutes.items() if m}
        if not wanted:
            return {}
        from risk.models import RiskEvent
        from risk.services import BREACH_CODES

        since = timezone.now() - timedelta(minutes=max(minutes[b] for b in wanted))
        out: dict[int, int] = {}
        for bot_id, at in (RiskEvent.objects.filter(created_at__gte=since, code__in=BREACH_CODES,
                                                    bot_id__isnull=False).values_list("bot_id", "created_at")):
            if bot_id in wanted:
                out[bot_id] = max(out.get(bot_id, 0), int(at.timestamp() * 1000) + minutes[bot_id] * 60_000)
        return out


def _gate_params() -> dict[str, bool]:
    risk = _risk()
    if risk is None:
        return {}
    import inspect

    params = inspect.signature(risk[0].order_gate).parameters
    return {"limits": "limits" in params, "switches": "switches" in params}


_GATE_TAKES: dict[str, bool] = {}


class _Writes:
    """Everything a chunk writes, flushed with a few set-based statements at the end of its transaction."""

    def __init__(self, now: datetime, tick_key: int, claimed: set[int]):
        self.now, self.tick_key, self.claimed = now, tick_key, claimed
        self.bot_rows: list[tuple] = []
        self.equity_rows: list[tuple] = []
        self.new_orders: list[Order] = []
        self.changed_orders: list[Order] = []
        self.fills: list[tuple[Fill, str]] = []  # (fill, client_id of its order)
        self.events: list[tuple[int, dict]] = []
        self.notes: list[tuple[int, str]] = []
        self.owner_of: dict[int, int] = {}
        self.fill_bots: dict[int, dict] = {}
        self.breaches: list[tuple[int, object]] = []

    def note(self, row: dict, note: str) -> None:
        self.notes.append((row["id"], note[:200]))

    def bot(self, row: dict, result: StepResult, state: dict, feed: SymbolFeed, open_orders: list[Order],
            equity: Decimal) -> None:
        bot_id = row["id"]
        self.owner_of[bot_id] = row["owner_id"]
        w = result.wallet
        self.bot_rows.append((bot_id, json.dumps(state), w.base, w.quote, w.base_reserved, w.quote_reserved,
                              feed.price, ""))
        self.equity_rows.append((bot_id, _dt(feed.newest_ms), feed.price, w.base, w.quote, equity))
        existing = {o.client_id: o for o in open_orders}
        resting_now = {o.id: o for o in result.open_orders}
        fills_by_order: dict[str, list] = defaultdict(list)
        for f in result.fills:
            fills_by_order[f.order_id].append(f)
        ts = self.now
        touched: set[str] = set()
        # orders placed this step: market fills, limit placements (taker part and/or resting), rejects
        new_ids = [oid for oid in dict.fromkeys([*[f.order_id for f in result.fills],
                                                 *[o.id for o in result.new_orders]]) if oid not in existing]
        rests = {o.id: o for o in result.new_orders}
        for oid in new_ids:
            fills = fills_by_order.get(oid, [])
            rest = rests.get(oid)
            first = fills[0] if fills else None
            filled = sum((f.amount for f in fills), Decimal(0))
            side = rest.side if rest else first.side
            amount = filled + (rest.remaining if rest else Decimal(0))
            reason = (rest.reason if rest else first.reason) or ""
            tag = (rest.client_tag if rest else first.client_tag) or ""
            # a limit order that filled completely on arrival has no resting part but is still a limit order
            limit = rest.price if rest else (first.limit_price if first else None)
            order = Order(bot_id=bot_id, client_id=oid, side=side, type="market" if limit is None else "limit",
                          amount=amount, price=limit, filled=filled,
                          average_price=_avg(fills), reason=reason[:200], tag=tag[:64], tick_key=self.tick_key,
                          created_at=ts, updated_at=ts)
            if rest is not None and oid in resting_now:
                order.status = Order.Status.PARTIALLY_FILLED if filled > 0 else Order.Status.OPEN
                order.resting = resting_now[oid].to_json()
            else:
                order.status = Order.Status.FILLED
                order.closed_at = ts
            self.new_orders.append(order)
            touched.add(oid)
        for rej in result.rejects:
            intent = rej.intent
            amount = (intent.amount if intent and intent.amount is not None else Decimal(0))
            order = Order(bot_id=bot_id, client_id=rej.order_id or f"{feed.newest_ms}:reject",
                          side=intent.side if intent else "buy",
                          type=intent.type if intent and intent.type in ("market", "limit") else "market",
                          amount=amount, price=intent.price if intent else None, status=Order.Status.REJECTED,
                          reason=f"{rej.code}: {rej.message}"[:200], tag=((intent.client_tag if intent else "")
                                                                          or "")[:64],
                          tick_key=self.tick_key, created_at=ts, updated_at=ts, closed_at=ts)
            if intent is not None and intent.type == "cancel":
                continue  # a cancel of an unknown order is not an order
            self.new_orders.append(order)
        # resting orders that filled, partially filled or were cancelled by the strategy
        cancelled = set(result.cancelled)
        for oid, order in existing.items():
            fills = fills_by_order.get(oid, [])
            if oid in cancelled:
                order.status, order.resting, order.closed_at = Order.Status.CANCELLED, None, ts
                order.reason = (order.reason + " | cancelled by the strategy")[:200]
            elif fills:
                prior = order.filled
                order.filled = prior + sum((f.amount for f in fills), Decimal(0))
                total_cost = (order.average_price or Decimal(0)) * prior + sum((f.price * f.amount for f in fills),
                                                                              Decimal(0))
                order.average_price = total_cost / order.filled if order.filled else None
                if oid in resting_now:
                    order.status = Order.Status.PARTIALLY_FILLED
                    order.resting = resting_now[oid].to_json()
                else:
                    order.status, order.resting, order.closed_at = Order.Status.FILLED, None, ts
            elif oid in resting_now and resting_now[oid].to_json() != order.resting:
                order.resting = resting_now[oid].to_json()  # e.g. after_ms moved on
            else:
                continue
            order.updated_at = ts
            self.changed_orders.append(order)
        for f in result.fills:
            fill = Fill(bot_id=bot_id, side=f.side, price=f.price, amount=f.amount, fee=f.fee,
                        fee_currency=f.fee_currency, slippage=f.slippage, reference_price=f.reference_price,
                        liquidity=f.liquidity, tick_key=self.tick_key,
                        ts=_dt(f.ts_ms) if f.ts_ms is not None else ts)
            self.fills.append((fill, f.order_id))
        if result.fills:
            self.fill_bots[bot_id] = {"name": row["name"], "symbol": row["symbol"], "owner_id": row["owner_id"],
                                      "fills": [(f.side, f.amount, f.price) for f in result.fills]}

    def flush(self, summary: TickSummary) -> None:
        connection.ensure_connection()
        # a server-side-binding cursor with binary arrays: Django's default client-side binding would
        # escape every element of every array in Python (most of the cost of a large chunk)
        with psycopg.Cursor(connection.connection) as cur:
            if self.bot_rows:
                cols = list(zip(*self.bot_rows, strict=True))
                cur.execute(BOT_UPDATE_SQL, {"ids": list(cols[0]), "states": list(cols[1]), "base": _decs(cols[2]),
                                             "quote": _decs(cols[3]), "br": _decs(cols[4]), "qr": _decs(cols[5]),
                                             "price": _decs(cols[6]), "note": list(cols[7]), "now": self.now,
                                             "key": self.tick_key})
            rest = sorted(self.claimed - {r[0] for r in self.bot_rows})
            if rest:  # claimed, nothing to write (or failed): the claim still has to stick
                cur.execute("UPDATE trading_bot SET last_tick_key = %s, last_tick_at = %b WHERE id = ANY(%b::bigint[])",
                            [self.tick_key, self.now, rest])
            if self.equity_rows:
                cols = list(zip(*self.equity_rows, strict=True))
                cur.execute(EQUITY_SQL, {"ids": list(cols[0]), "ts": list(cols[1]), "price": _decs(cols[2]),
                                         "base": _decs(cols[3]), "quote": _decs(cols[4]), "equity": _decs(cols[5])})
            if self.notes:
                cur.execute("UPDATE trading_bot b SET last_tick_note = u.note FROM unnest(%b::bigint[], %b::text[]) "
                            "AS u(id, note) WHERE b.id = u.id",
                            [[n[0] for n in self.notes], [n[1] for n in self.notes]])
        if self.new_orders:
            self._insert_orders()
        if self.changed_orders:
            Order.objects.bulk_update(self.changed_orders, ["status", "filled", "average_price", "resting", "reason",
                                                            "updated_at", "closed_at"])
        if self.fills:
            by_client = {(o.bot_id, o.client_id): o for o in [*self.new_orders, *self.changed_orders]}
            fills = []
            for fill, client_id in self.fills:
                fill.order = by_client[(fill.bot_id, client_id)]
                fills.append(fill)
            self._insert_fills(fills)
        summary.orders += len(self.new_orders)
        summary.fills += len(self.fills)
        for order in [*self.new_orders, *self.changed_orders]:
            self.events.append((self.owner_of.get(order.bot_id), {"type": "order", "order": order_json(order)}))
        for fill, _ in self.fills:
            self.events.append((self.owner_of.get(fill.bot_id), {"type": "fill", "fill": fill_json(fill)}))
        events_on_commit([e for e in self.events if e[0] is not None])
        if self.fill_bots:
            bots = dict(self.fill_bots)
            transaction.on_commit(lambda: _notify_fills(bots))
        self._breakers()

    def _insert_orders(self) -> None:
        """INSERT ... SELECT FROM unnest(binary arrays): one statement, no per-value quoting in Python."""
        o = self.new_orders
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute(
                "INSERT INTO trading_order (bot_id, client_id, side, type, amount, price, status, reason, filled, "
                "average_price, tag, resting, tick_key, created_at, updated_at, closed_at) "
                "SELECT b, c, s, t, a, p, st, r, f, ap, tg, rs::jsonb, k, ca, ua, cl FROM unnest("
                "%b::bigint[], %b::text[], %b::text[], %b::text[], %b::numeric[], %b::numeric[], %b::text[], "
                "%b::text[], %b::numeric[], %b::numeric[], %b::text[], %b::text[], %b::bigint[], "
                "%b::timestamptz[], %b::timestamptz[], %b::timestamptz[]) "
                "AS u(b, c, s, t, a, p, st, r, f, ap, tg, rs, k, ca, ua, cl) RETURNING id, bot_id, client_id",
                [[x.bot_id for x in o], [x.client_id for x in o], [x.side for x in o], [x.type for x in o],
                 _decs(x.amount for x in o), _decs(x.price for x in o), [x.status for x in o], [x.reason for x in o],
                 _decs(x.filled for x in o), _decs(x.average_price for x in o), [x.tag for x in o],
                 [None if x.resting is None else json.dumps(x.resting) for x in o], [x.tick_key for x in o],
                 [x.created_at for x in o], [x.updated_at for x in o], [x.closed_at for x in o]])
            ids = {(bot_id, client_id): pk for pk, bot_id, client_id in cur.fetchall()}
        for x in o:
            x.pk = ids[(x.bot_id, x.client_id)]
            x._state.adding = False

    def _insert_fills(self, fills: list[Fill]) -> None:
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute(
                "INSERT INTO trading_fill (bot_id, order_id, side, price, amount, fee, fee_currency, slippage, "
                "reference_price, liquidity, tick_key, ts) "
                "SELECT b, o, s, p, a, f, fc, sl, rp, l, k, ts FROM unnest(%b::bigint[], %b::bigint[], %b::text[], "
                "%b::numeric[], %b::numeric[], "
                "%b::numeric[], %b::text[], %b::numeric[], %b::numeric[], %b::text[], %b::bigint[], "
                "%b::timestamptz[]) WITH ORDINALITY AS u(b, o, s, p, a, f, fc, sl, rp, l, k, ts, n) "
                "ORDER BY n RETURNING id",
                [[x.bot_id for x in fills], [x.order_id for x in fills], [x.side for x in fills],
                 _decs(x.price for x in fills), _decs(x.amount for x in fills), _decs(x.fee for x in fills),
                 [x.fee_currency for x in fills], _decs(x.slippage for x in fills), _decs(x.reference_price for x in fills),
                 [x.liquidity for x in fills], [x.tick_key for x in fills], [x.ts for x in fills]])
            for x, (pk,) in zip(fills, cur.fetchall(), strict=True):  # RETURNING follows the insert order
                x.pk = pk
                x._state.adding = False

    def _breakers(self) -> None:
        if not self.breaches:
            return
        services, _checks = _risk()
        for bot_id, rstate in self.breaches:
            bot = Bot.objects.select_for_update(no_key=True).get(pk=bot_id)  # already ours: no wait
            services.breakers_check(bot=bot, state=rstate)


def _decs(values) -> list[Decimal | None]:
    """psycopg dumps an array from one Python type: ints (a model default of 0) become Decimals."""
    return [v if v is None or isinstance(v, Decimal) else Decimal(v) for v in values]


def _avg(fills) -> Decimal | None:
    amount = sum((f.amount for f in fills), Decimal(0))
    if not amount:
        return None
    return sum((f.price * f.amount for f in fills), Decimal(0)) / amount


def _notify_fills(bots: dict[int, dict]) -> None:
    """After commit: one "fills" notification per user (listing their bots' fills) for users with a channel.
    Never raises, never blocks trading."""
    try:
        from notifications.models import Channel
        from notifications.services import notify
    except ImportError:  # pragma: no cover
        return
    try:
        from accounts.models import User

        owners = {b["owner_id"] for b in bots.values()}
        # most users have no alert channel: skip them with one query instead of one notify() each
        listening = set(Channel.objects.filter(owner_id__in=owners).values_list("owner_id", flat=True))
        users = User.objects.in_bulk(listening)
        per_user: dict[int, list[tuple[int, dict]]] = defaultdict(list)
        for bot_id, info in bots.items():
            if info["owner_id"] in users:
                per_user[info["owner_id"]].append((bot_id, info))
        for owner_id, items in per_user.items():
            lines, count = [], 0
            for _bot_id, info in items[:20]:
                for side, amount, price in info["fills"]:
                    count += 1
                    lines.append(f"{info['name']}: {side} {amount.normalize():f} {info['symbol'].split('/')[0]} "
                                 f"@ {price.normalize():f}")
            first_id, first = items[0]
            title = (f"{first['name']}: {count} fill(s)" if len(items) == 1
                     else f"{len(items)} bots filled {sum(len(i['fills']) for _, i in items)} order(s)")
            try:
                notify(user=users[owner_id], event="fills", severity="info", title=title,
                       text="; ".join(lines)[:3900], url_path=f"/bots/{first_id}/" if len(items) == 1 else "/bots/",
                       bot=_BotRef(first_id, first["name"], first["symbol"]) if len(items) == 1 else None)
            except Exception:  # noqa: BLE001
                log.exception("fill notification failed for user %s", owner_id)
    except Exception:  # noqa: BLE001 - notifications are best effort
        log.exception("fill notifications failed")


@dataclass
class _BotRef:
    pk: int
    name: str
    symbol: str


# --- the tick ------------------------------------------------------------------------------------

def tick_run(*, exchange: str, tick_key: int, now: float | None = None, shard: int = 0,
             shards: int = 1) -> TickSummary:
    """Evaluate every running paper bot of `exchange` once for this tick (idempotent per bot and tick).

    With `shards` > 1 only the bots with id % shards == shard: several workers share one tick (each bot
    is still claimed in the database, so overlapping or repeated shards are harmless)."""
    started = time.perf_counter()
    summary = TickSummary(exchange, int(tick_key))
    if not settings.ENABLE_TRADING:
        summary.notes["disabled"] = "ENABLE_TRADING is false: no bot runs"
        return summary
    now = time.time() if now is None else now
    shards = max(1, int(shards))
    with connection.cursor() as cur:
        cur.execute("SELECT id, symbol, params, (state->'engine'->>'last_bar_ms')::bigint, owner_id FROM trading_bot "
                    "WHERE exchange = %s AND status = 'running' AND archived_at IS NULL AND mode = 'paper' "
                    "AND (last_tick_key IS NULL OR last_tick_key < %s) AND id %% %s = %s",
                    [exchange, int(tick_key), shards, int(shard) % shards])
        bots = cur.fetchall()
    summary.bots = len(bots)
    if not bots:
        return summary
    wanted: dict[str, int] = {}
    for _id, symbol, params, _last, _owner in bots:
        wanted[symbol] = max(wanted.get(symbol, MIN_BARS), _lookback(params))
    feeds = _feeds(exchange, wanted, now)
    todo: list[int] = []
    notes: dict[str, list[int]] = defaultdict(list)
    for bot_id, symbol, _params, last_bar_ms, _owner in bots:
        feed = feeds[symbol]
        if feed.note:
            notes[feed.note].append(bot_id)
        elif last_bar_ms is not None and feed.newest_ms <= last_bar_ms:
            summary.idle += 1  # this candle is evaluated already: nothing can happen until the next one
        else:
            todo.append(bot_id)
    if notes:
        summary.skipped = sum(len(v) for v in notes.values())
        summary.notes = {k: len(v) for k, v in notes.items()}
        with connection.cursor() as cur:
            for note, ids in notes.items():
                cur.execute("UPDATE trading_bot SET last_tick_note = %s WHERE id = ANY(%s) AND last_tick_note <> %s",
                            [note, ids, note])
    todo.sort()
    todo_set = set(todo)
    base_cfg = platform_fill_config()
    if todo and settings.MARKET_DATA_SOURCE == "ccxt":
        # market orders walk the real order book: ONE fetch per symbol with bots to evaluate, before any
        # transaction (no I/O while rows are locked); without one they fill at ask/bid + slippage
        for symbol in sorted({b[1] for b in bots if b[0] in todo_set}):
            book = _order_book(exchange, symbol, base_cfg.max_book_levels, summary)
            if book is not None and feeds[symbol].market is not None:
                feeds[symbol].market = replace(feeds[symbol].market, book=book)
    limits = _Limits(exchange, {b[4] for b in bots if b[0] in todo_set}) if todo else None
    chunk = _Chunk(exchange, int(tick_key), feeds, base_cfg, summary, limits)
    size = max(1, settings.BOT_TICK_CHUNK)
    for i in range(0, len(todo), size):
        ids = todo[i:i + size]
        try:
            chunk.run(ids)
        except DatabaseError:
            log.exception("tick chunk failed on %s; retrying its %d bots one by one", exchange, len(ids))
            for bot_id in ids:
                try:
                    chunk.run([bot_id])
                except DatabaseError:
                    log.exception("bot %s failed on tick %s", bot_id, tick_key)
                    summary.errors += 1
    summary.seconds = time.perf_counter() - started
    if summary.evaluated or summary.skipped or summary.errors:
        TickRun.objects.create(exchange=exchange, tick_key=int(tick_key), started_at=_dt(int(now * 1000)),
                               finished_at=timezone.now(), bots=summary.bots, evaluated=summary.evaluated,
                               skipped=summary.skipped, orders=summary.orders, fills=summary.fills,
                               errors=summary.errors, notes=summary.notes)
    return summary




def tick_runs_prune(*, keep_days: int = 7) -> int:
    """Drop the ops log of ticks older than `keep_days` (one row per exchange per working tick)."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = TickRun.objects.filter(started_at__lt=cutoff).delete()
    return deleted
