"""What one tick chunk writes, flushed with a few set-based statements at the end of its transaction.

Bot rows, equity points, new and changed orders and their fills: binary arrays through a
server-side-binding cursor (Django's client-side binding would escape every element in Python).
Every order status here is set through the order writer (trading.execution.writer.order_apply).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import psycopg
from django.db import connection

from trading.engine.types import StepResult
from trading.events import events_on_commit, fill_json, order_json, tick_bot_json
from trading.execution.states import CANCELLED, FILLED, OPEN, PARTIALLY_FILLED, REJECTED
from trading.execution.writer import order_apply
from trading.models import Fill, Order
from trading.services.tick_feeds import SymbolFeed, to_dt

CLAIM_SQL = """
SELECT id, owner_id, name, exchange, symbol, timeframe, strategy, params, state, seed, fill_overrides, base, quote,
       base_reserved, quote_reserved, starting_balance, reduce_only, last_tick_note
FROM trading_bot
WHERE id = ANY(%(ids)b::bigint[]) AND status = 'running' AND archived_at IS NULL AND mode = %(mode)s
  AND (last_tick_key IS NULL OR last_tick_key < %(key)s)
ORDER BY id
FOR NO KEY UPDATE
"""
CLAIM_COLUMNS = ["id", "owner_id", "name", "exchange", "symbol", "timeframe", "strategy", "params", "state", "seed",
                 "fill_overrides", "base", "quote", "base_reserved", "quote_reserved", "starting_balance",
                 "reduce_only", "last_tick_note"]

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


class ChunkWrites:
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
            equity: Decimal, note: str = "") -> None:
        bot_id = row["id"]
        self.owner_of[bot_id] = row["owner_id"]
        w = result.wallet
        self.bot_rows.append((bot_id, json.dumps(state), w.base, w.quote, w.base_reserved, w.quote_reserved,
                              feed.price, note))
        if note != row.get("last_tick_note", ""):  # the health changed: tell the owner's open pages
            self.events.append((row["owner_id"], {"type": "bot", "bot": tick_bot_json(
                row, note=note, base=w.base, quote=w.quote, price=feed.price, now=self.now)}))
        self.equity_rows.append((bot_id, to_dt(feed.newest_ms), feed.price, w.base, w.quote, equity))
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
                          amount=amount, price=limit, status=Order.Status.NEW, reason=reason[:200], tag=tag[:64],
                          tick_key=self.tick_key, created_at=ts, updated_at=ts)
            if rest is not None and oid in resting_now:
                order_apply(order, status=PARTIALLY_FILLED if filled > 0 else OPEN, ts=ts, filled=filled,
                            average_price=_avg(fills), resting=resting_now[oid].to_json())
            else:
                order_apply(order, status=FILLED, ts=ts, filled=filled, average_price=_avg(fills))
            self.new_orders.append(order)
            touched.add(oid)
        for rej in result.rejects:
            intent = rej.intent
            amount = (intent.amount if intent and intent.amount is not None else Decimal(0))
            order = Order(bot_id=bot_id, client_id=rej.order_id or f"{feed.newest_ms}:reject",
                          side=intent.side if intent else "buy",
                          type=intent.type if intent and intent.type in ("market", "limit") else "market",
                          amount=amount, price=intent.price if intent else None, status=Order.Status.NEW,
                          tag=((intent.client_tag if intent else "") or "")[:64], tick_key=self.tick_key,
                          created_at=ts, updated_at=ts)
            if intent is not None and intent.type == "cancel":
                continue  # a cancel of an unknown order is not an order
            order_apply(order, status=REJECTED, ts=ts, reason=f"{rej.code}: {rej.message}")
            self.new_orders.append(order)
        # resting orders that filled, partially filled or were cancelled by the strategy
        cancelled = set(result.cancelled)
        for oid, order in existing.items():
            fills = fills_by_order.get(oid, [])
            if oid in cancelled:
                order_apply(order, status=CANCELLED, ts=ts, reason=order.reason + " | cancelled by the strategy")
            elif fills:
                prior = order.filled
                filled = prior + sum((f.amount for f in fills), Decimal(0))
                total_cost = (order.average_price or Decimal(0)) * prior + sum((f.price * f.amount for f in fills),
                                                                              Decimal(0))
                average = total_cost / filled if filled else None
                if oid in resting_now:
                    order_apply(order, status=PARTIALLY_FILLED, ts=ts, filled=filled, average_price=average,
                                resting=resting_now[oid].to_json())
                else:
                    order_apply(order, status=FILLED, ts=ts, filled=filled, average_price=average)
            elif not (oid in resting_now and order_apply(order, status=order.status, ts=ts,
                                                        resting=resting_now[oid].to_json())):
                continue  # untouched (a changed resting part, e.g. after_ms moved on, is saved)
            self.changed_orders.append(order)
        for f in result.fills:
            fill = Fill(bot_id=bot_id, side=f.side, price=f.price, amount=f.amount, fee=f.fee,
                        fee_currency=f.fee_currency, slippage=f.slippage, reference_price=f.reference_price,
                        liquidity=f.liquidity, tick_key=self.tick_key,
                        ts=to_dt(f.ts_ms) if f.ts_ms is not None else ts)
            self.fills.append((fill, f.order_id))
        if result.fills:
            self.fill_bots[bot_id] = {"name": row["name"], "symbol": row["symbol"], "owner_id": row["owner_id"],
                                      "fills": [(f.side, f.amount, f.price) for f in result.fills]}

    def flush(self, summary) -> None:
        """Write everything; counts go into `summary` (the tick's TickSummary)."""
        connection.ensure_connection()
        # a server-side-binding cursor with binary arrays: Django's default client-side binding would
        # escape every element of every array in Python (most of the cost of a large chunk)
        with psycopg.Cursor(connection.connection) as cur:
            if self.bot_rows:
                cols = list(zip(*self.bot_rows, strict=True))
                cur.execute(BOT_UPDATE_SQL, {"ids": list(cols[0]), "states": list(cols[1]), "base": decs(cols[2]),
                                             "quote": decs(cols[3]), "br": decs(cols[4]), "qr": decs(cols[5]),
                                             "price": decs(cols[6]), "note": list(cols[7]), "now": self.now,
                                             "key": self.tick_key})
            rest = sorted(self.claimed - {r[0] for r in self.bot_rows})
            if rest:  # claimed, nothing to write (or failed): the claim still has to stick
                cur.execute("UPDATE trading_bot SET last_tick_key = %s, last_tick_at = %b WHERE id = ANY(%b::bigint[])",
                            [self.tick_key, self.now, rest])
            if self.equity_rows:
                cols = list(zip(*self.equity_rows, strict=True))
                cur.execute(EQUITY_SQL, {"ids": list(cols[0]), "ts": list(cols[1]), "price": decs(cols[2]),
                                         "base": decs(cols[3]), "quote": decs(cols[4]), "equity": decs(cols[5])})
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
                 decs(x.amount for x in o), decs(x.price for x in o), [x.status for x in o], [x.reason for x in o],
                 decs(x.filled for x in o), decs(x.average_price for x in o), [x.tag for x in o],
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
                 decs(x.price for x in fills), decs(x.amount for x in fills), decs(x.fee for x in fills),
                 [x.fee_currency for x in fills], decs(x.slippage for x in fills), decs(x.reference_price for x in fills),
                 [x.liquidity for x in fills], [x.tick_key for x in fills], [x.ts for x in fills]])
            for x, (pk,) in zip(fills, cur.fetchall(), strict=True):  # RETURNING follows the insert order
                x.pk = pk
                x._state.adding = False

def decs(values) -> list[Decimal | None]:
    """psycopg dumps an array from one Python type: ints (a model default of 0) become Decimals."""
    return [v if v is None or isinstance(v, Decimal) else Decimal(v) for v in values]


def _avg(fills) -> Decimal | None:
    amount = sum((f.amount for f in fills), Decimal(0))
    if not amount:
        return None
    return sum((f.price * f.amount for f in fills), Decimal(0)) / amount
