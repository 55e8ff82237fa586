"""Run every running paper bot of an exchange for one price tick.

`tick_run(exchange=..., tick_key=...)` is called (via the `trading.run_bots_tick` task) after each
price poll. Per tick:

1. ONE query lists the exchange's running bots (id, symbol, last evaluated candle); ONE Redis read
   gets the tickers; closed candles are loaded ONCE per symbol and timeframe (replay: the recorded bars up
   to the replay step, exactly as the backtest sees them; ccxt/synthetic: the 1m candles closed before now,
   aggregated into the bot's timeframe: a 5m bot decides only when a 5m candle has closed).
2. Bots on a stale or missing ticker are skipped with the reason in `Bot.last_tick_note`; bots that
   already evaluated the newest closed candle have nothing to do and are not touched at all.
3. The rest go in chunks of `BOT_TICK_CHUNK`. Each chunk is one transaction that first CLAIMS its bots:
   an UPDATE that sets `last_tick_key` only where it is still lower than this tick's key, on rows locked
   FOR NO KEY UPDATE in id order, returning the bots' fresh rows. A retried task, a redelivered message
   (acks_late + reject_on_worker_lost) or a second worker on the same tick finds nothing to claim, or
   waits on the row locks and then finds the claim taken: it can never fill twice. `Order.client_id`
   (`<candle ms>:<n>`, unique per bot) is a second guard in the database.
4. Each claimed bot is evaluated by the pure engine (`trading.engine.runner.evaluate`: the strategy's
   plan, then the paper venue's fills), with the risk gate (`risk.services.order_gate`) called for every
   order inside this same transaction; then the
   chunk's orders, fills, wallets, strategy states and equity points are written with a handful of
   set-based statements. A bot's writes are never split across transactions. If a chunk fails in the
   database, its bots are retried one bot per transaction, so one bad row never blocks the others.

Market data comes from tick_feeds.py, the writes from tick_writes.py (order status through the one order
writer). A breaker tripped on the tick halts the bot through trading.execution.safety in the same
transaction. A paper bot never loads or decrypts an exchange key: nothing here touches keys.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import User
from notifications.models import Channel
from notifications.services import notify
from risk.checks import Limits, OrderProposal, check_breakers, memory_advance, memory_count_order, state_build
from risk.limits import LimitsBook
from risk.selectors import cooldowns_until
from risk.services import order_gate, switch_rows_ensure
from trading.engine.runner import GateRequest, evaluate
from trading.engine.types import FillConfig, RestingOrder, StepResult, Wallet
from trading.events import events_on_commit, stale_bot_json
from trading.execution.paper_orders import fill_config_for, platform_fill_config
from trading.execution.routing import PAPER
from trading.execution.safety import breakers_check
from trading.formatting import currency_places
from trading.models import Bot, Order, TickRun
from trading.selectors import market_formats
from trading.services.tick_feeds import (
    MIN_BARS,
    SymbolFeed,
    feed_back,
    feeds_for,
    lookback,
    missed_bars,
    order_book,
    parsed,
    to_dt,
)
from trading.services.tick_health import health_note
from trading.services.tick_writes import CLAIM_COLUMNS, CLAIM_SQL, ChunkWrites

log = logging.getLogger(__name__)


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


def _bot_instance(row: dict) -> Bot:
    """The claimed row as a Bot (unsaved: the order gate reads owner, status and flags from it)."""
    return Bot(id=row["id"], owner_id=row["owner_id"], name=row["name"], exchange=row["exchange"],
               symbol=row["symbol"], strategy=row["strategy"], params=row["params"], mode=Bot.Mode.PAPER,
               status=Bot.Status.RUNNING, starting_balance=row["starting_balance"], seed=row["seed"],
               base=row["base"], quote=row["quote"], base_reserved=row["base_reserved"],
               quote_reserved=row["quote_reserved"], reduce_only=row["reduce_only"])


class _Chunk:
    def __init__(self, exchange: str, tick_key: int, feeds: dict[str, SymbolFeed], base_cfg: FillConfig,
                 summary: TickSummary, limits: LimitsBook):
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
                cur.execute(CLAIM_SQL, {"ids": ids, "key": self.tick_key, "now": now, "mode": PAPER})
                rows = [dict(zip(CLAIM_COLUMNS, r, strict=True)) for r in cur.fetchall()]
            for r in rows:  # Django's PostgreSQL backend hands jsonb over as text
                r["params"] = parsed(r["params"])
                r["fill_overrides"] = parsed(r["fill_overrides"])
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
            limits = {r["id"]: self.limits.for_bot(r["id"], r["owner_id"]) for r in rows}
            cooldown = cooldowns_until(minutes_by_bot={b: lim.cooldown_minutes for b, lim in limits.items()})
            writes = ChunkWrites(now, self.tick_key, {r["id"] for r in rows})
            for row in rows:
                try:
                    self._one(row, open_by_bot.get(row["id"], []), limits[row["id"]], cooldown.get(row["id"], 0),
                              writes)
                except Exception as exc:  # noqa: BLE001 - one bot's bug never stops the others
                    log.exception("bot %s failed on tick %s", row["id"], self.tick_key)
                    self.summary.errors += 1
                    writes.note(row, f"error: {exc.__class__.__name__}")
            writes.flush(self.summary)
            if writes.fill_bots:
                bots = dict(writes.fill_bots)
                transaction.on_commit(lambda: _notify_fills(bots, exchange=self.exchange))
            for bot_id, rstate in writes.breaches:  # halts in this transaction: the row is ours already
                breakers_check(bot=Bot.objects.select_for_update(no_key=True).get(pk=bot_id), state=rstate,
                               limits=limits[bot_id])

    def _one(self, row: dict, open_orders: list[Order], limits: Limits, cooldown_until_ms: int,
             writes: ChunkWrites) -> None:
        feed = self.feeds[(row["symbol"], row["timeframe"])]
        resting = [RestingOrder.from_json(o.resting) for o in open_orders if o.resting]
        wallet = Wallet(base=row["base"], quote=row["quote"], base_reserved=row["base_reserved"],
                        quote_reserved=row["quote_reserved"])
        state = row["state"] or {}
        step_key = feed.newest_ms
        now_ms = feed.market.ts_ms
        mem = memory_advance(state, now_ms=now_ms, equity=wallet.quote + wallet.base * feed.price)
        result: StepResult = evaluate(
            strategy_id=row["strategy"], params=row["params"], state=state, closed_bars=feed.bars,
            market=feed.market, wallet=wallet, open_orders=resting, rules=feed.rules, cfg=self.cfg(row["fill_overrides"]),
            seed=row["seed"], step_key=step_key, gate=self._gate(row, mem, len(resting), limits, cooldown_until_ms, now_ms))
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
        note = health_note(strategy_id=row["strategy"], params=row["params"], state=new_state, bars=len(feed.bars),
                           result=result, rules=feed.rules, price=feed.price)
        writes.bot(row, result, new_state, feed, open_orders, equity, note)
        if equity < peak:  # below the peak: a loss/drawdown breaker may trip
            rstate = state_build(mem, equity=equity, base=result.wallet.base, free_base=result.wallet.free_base,
                                 price=feed.price, open_orders=len(result.open_orders), now_ms=now_ms,
                                 reduce_only=row["reduce_only"])
            if not check_breakers(rstate, limits).allowed:
                writes.breaches.append((row["id"], rstate))

    def _gate(self, row: dict, mem: dict, open_count: int, limits: Limits, cooldown_until_ms: int, market_ms: int):
        """The engine's pre-trade gate for one bot: risk.services.order_gate inside this transaction (it
        locks the owner's kill switch rows FOR SHARE until the chunk commits)."""
        bot_cache: list[Bot] = []
        money_places = currency_places(row["symbol"].rpartition("/")[2])  # the risk messages' money decimals

        def gate(req: GateRequest):
            if not bot_cache:
                bot_cache.append(_bot_instance(row))
            rstate = state_build(mem, equity=req.wallet.quote + req.wallet.base * req.price, base=req.wallet.base,
                                 free_base=req.wallet.free_base, price=req.price, open_orders=open_count,
                                 now_ms=int(time.time() * 1000), reduce_only=row["reduce_only"],
                                 cooldown_until_ms=cooldown_until_ms, memory_ms=market_ms)
            proposal = OrderProposal(side=req.side, amount=req.amount, price=req.price,
                                     reduces_position=req.reduces_position, money_places=money_places)
            decision = order_gate(bot=bot_cache[0], proposal=proposal, state=rstate, limits=limits)
            if decision.allowed:  # counted like the backtest counts them (risk.checks' trades_today)
                memory_count_order(mem)
            return decision

        return gate


def _notify_fills(bots: dict[int, dict], *, exchange: str) -> None:
    """After commit: one "fills" notification per bot (its fills of this tick, one per line, amounts and prices
    at the market's precision) for users with a channel; channels keep a digest per bot by default
    (notifications.outbox). Never raises, never blocks trading."""
    try:
        owners = {b["owner_id"] for b in bots.values()}
        # most users have no alert channel: skip them with one query instead of one notify() each
        listening = set(Channel.objects.filter(owner_id__in=owners).values_list("owner_id", flat=True))
        users = User.objects.in_bulk(listening)
        heard = {bot_id: info for bot_id, info in bots.items() if info["owner_id"] in users}
        formats = market_formats((exchange, info["symbol"]) for info in heard.values()) if heard else {}
        for bot_id, info in heard.items():
            fmt = formats[(exchange, info["symbol"])]
            lines = [f"- {side} {fmt.amount(amount)} {fmt.base} @ {fmt.price(price)} {fmt.quote}"
                     for side, amount, price in info["fills"]]
            try:
                notify(user=users[info["owner_id"]], event="fills", severity="info",
                       title=f"{info['name']}: {len(lines)} fill(s)", text="\n".join(lines)[:3900],
                       url_path=f"/bots/{bot_id}/", bot=_BotRef(bot_id, info["name"], info["symbol"]),
                       items=len(lines))
            except Exception:  # noqa: BLE001
                log.exception("fill notification failed for bot %s", bot_id)
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
        cur.execute("SELECT id, symbol, params, (state->'engine'->>'last_bar_ms')::bigint, owner_id, timeframe, "
                    "(extract(epoch FROM started_at) * 1000)::bigint FROM trading_bot "
                    "WHERE exchange = %s AND status = 'running' AND archived_at IS NULL AND mode = %s "
                    "AND (last_tick_key IS NULL OR last_tick_key < %s) AND id %% %s = %s",
                    [exchange, PAPER, int(tick_key), shards, int(shard) % shards])
        bots = cur.fetchall()
    summary.bots = len(bots)
    if not bots:
        return summary
    wanted: dict[tuple[str, str], int] = {}
    for _id, symbol, params, _last, _owner, timeframe, _started in bots:
        wanted[(symbol, timeframe)] = max(wanted.get((symbol, timeframe), MIN_BARS), lookback(params))
    feeds = feeds_for(exchange, wanted, now)
    todo: list[int] = []
    behind: dict[int, list[int]] = defaultdict(list)  # bars back -> bots that missed that bar (catch-up)
    notes: dict[str, list[int]] = defaultdict(list)
    # on live candles a bot catches up only the candles that closed while it ran (not those of a pause)
    live_candles = settings.MARKET_DATA_SOURCE != "replay"
    for bot_id, symbol, _params, last_bar_ms, _owner, timeframe, started_ms in bots:
        feed = feeds[(symbol, timeframe)]
        if feed.note:
            notes[feed.note].append(bot_id)
        elif last_bar_ms is not None and feed.newest_ms <= last_bar_ms:
            summary.idle += 1  # this candle is evaluated already: nothing can happen until the next one
        else:
            todo.append(bot_id)
            missed = missed_bars(feed, last_bar_ms, closed_after_ms=started_ms if live_candles else None)
            if 1 < missed <= settings.BOT_TICK_CATCHUP_BARS:
                for back in range(1, missed):
                    behind[back].append(bot_id)
    if notes:
        summary.skipped = sum(len(v) for v in notes.values())
        summary.notes = {k: len(v) for k, v in notes.items()}
        changed = []
        with connection.cursor() as cur:
            for note, ids in notes.items():
                cur.execute("UPDATE trading_bot SET last_tick_note = %s WHERE id = ANY(%s) AND last_tick_note <> %s "
                            "RETURNING id, owner_id, name, exchange, symbol, base, quote, last_price, last_tick_at",
                            [note, ids, note])
                changed += [(note, r) for r in cur.fetchall()]
        if changed:  # the health of these bots changed (stale prices...): push it to their owners' pages
            events_on_commit([(r[1], {"type": "bot", "bot": stale_bot_json(r, note)}) for note, r in changed])
    todo.sort()
    todo_set = set(todo)
    base_cfg = platform_fill_config()
    if todo and settings.MARKET_DATA_SOURCE == "ccxt":
        # market orders walk the real order book: ONE fetch per symbol with bots to evaluate, before any
        # transaction (no I/O while rows are locked); without one they fill at ask/bid + slippage
        for symbol in sorted({b[1] for b in bots if b[0] in todo_set}):
            book = order_book(exchange, symbol, base_cfg.max_book_levels, summary.notes)
            for feed in (f for (s, _tf), f in feeds.items() if s == symbol):
                if book is not None and feed.market is not None:
                    feed.market = replace(feed.market, book=book)
    if todo:  # switch rows exist before any chunk locks them (no row is created inside two chunks at once)
        switch_rows_ensure(user_ids={b[4] for b in bots if b[0] in todo_set})
    limits = LimitsBook.load(owner_ids={b[4] for b in bots if b[0] in todo_set}, exchange=exchange) if todo else None
    if behind:
        _catch_up(exchange, int(tick_key), feeds, behind, base_cfg, summary, limits)
    _chunks_run(_Chunk(exchange, int(tick_key), feeds, base_cfg, summary, limits), todo)
    summary.seconds = time.perf_counter() - started
    if summary.evaluated or summary.skipped or summary.errors:
        TickRun.objects.create(exchange=exchange, tick_key=int(tick_key), started_at=to_dt(int(now * 1000)),
                               finished_at=timezone.now(), bots=summary.bots, evaluated=summary.evaluated,
                               skipped=summary.skipped, orders=summary.orders, fills=summary.fills,
                               errors=summary.errors, notes=summary.notes)
    return summary


def _chunks_run(chunk: _Chunk, todo: list[int]) -> None:
    size = max(1, settings.BOT_TICK_CHUNK)
    for i in range(0, len(todo), size):
        ids = todo[i:i + size]
        try:
            chunk.run(ids)
        except DatabaseError:
            log.exception("tick chunk failed on %s; retrying its %d bots one by one", chunk.exchange, len(ids))
            for bot_id in ids:
                try:
                    chunk.run([bot_id])
                except DatabaseError:
                    log.exception("bot %s failed on tick %s", bot_id, chunk.tick_key)
                    chunk.summary.errors += 1


def _catch_up(exchange: str, tick_key: int, feeds: dict[tuple[str, str], SymbolFeed], behind: dict[int, list[int]],
              base_cfg: FillConfig, summary: TickSummary, limits: LimitsBook) -> None:
    """Bars a bot missed (its ticks were lost: Redis or PostgreSQL down, the worker stopped, the task expired)
    are evaluated before the newest, oldest first, each in a pass of its own exactly as its own tick would
    have: closed bars up to it, fills at the next bar's open. Pass `back` claims with key tick_key - back
    (below this tick's, above the bot's last), so a repeated or concurrent run of this tick never evaluates
    a bar twice, and the engine's last evaluated bar is a second guard."""
    caught = TickSummary(exchange, tick_key)
    for back in sorted(behind, reverse=True):
        past = {key: feed_back(feed, back) for key, feed in feeds.items()
                if not feed.note and len(feed.bars) > back}
        chunk = _Chunk(exchange, tick_key - back, past, base_cfg, caught, limits)
        _chunks_run(chunk, sorted(behind[back]))
    summary.orders += caught.orders
    summary.fills += caught.fills
    summary.errors += caught.errors
    if caught.evaluated:
        summary.notes["caught up (missed bars evaluated)"] = caught.evaluated


def tick_runs_prune(*, keep_days: int = 7) -> int:
    """Drop the ops log of ticks older than `keep_days` (one row per exchange per working tick)."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = TickRun.objects.filter(started_at__lt=cutoff).delete()
    return deleted
