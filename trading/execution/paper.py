"""`PaperVenue`: the paper exchange behind the `Venue` protocol. Pure (no Django, no I/O).

It wraps the engine's paper execution (`trading.engine.paper`, the fill model in fills.py) that
`evaluate()` uses for paper ticks and backtests, so an order fills here exactly as it fills there:
each order's randomness is seeded with the venue's seed and the order's client order id (its
bot-local part), so the same orders on the same market data give the same fills on every replay.

One venue = one bot's paper account on one market. The caller feeds it market data:
`set_market(market)` is what market orders and marketable limits fill against now (the book, the
quote or the next candle's open); `advance(bars)` passes closed candles, through which resting
limit orders may fill.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from trading.engine import paper
from trading.engine.paper import PaperAccount
from trading.engine.types import (
    Bar,
    Fill,
    FillConfig,
    Intent,
    Market,
    MarketRules,
    Reject,
    RestingOrder,
    Wallet,
)
from trading.engine.wallet import with_reservations

from .states import CANCELLED, FILLED, OPEN, PARTIALLY_FILLED, REJECTED
from .types import ZERO, Fee, OrderRequest, TradePage, VenueOrder, VenueTrade
from .venue import OrderNotFound, UnknownSymbol, VenueError


def _now_ms() -> int:
    return int(time.time() * 1000)


class PaperVenue:
    """A paper exchange for one bot and one market (see the module docstring)."""

    def __init__(self, *, symbol: str, wallet: Wallet, rules: MarketRules, cfg: FillConfig, seed: int | str,
                 open_orders: Sequence[RestingOrder] = (), market: Market | None = None,
                 clock: Callable[[], int] = _now_ms):
        self.symbol = symbol
        self.rules, self.cfg, self.seed = rules, cfg, seed
        self.market = market or Market()
        self._clock = clock
        self._account = PaperAccount(wallet=with_reservations(wallet, open_orders), open_orders=list(open_orders))
        self._orders: dict[str, VenueOrder] = {}  # by client order id, every order this venue has seen
        self._by_exchange_id: dict[str, str] = {}
        self._trades: list[VenueTrade] = []
        self._order_seq = itertools.count(1)
        for rest in open_orders:  # resting orders handed over (e.g. loaded from the database)
            self._remember(VenueOrder(client_order_id=rest.id, exchange_order_id=self._new_exchange_id(),
                                      symbol=symbol, side=rest.side, type="limit",
                                      status=PARTIALLY_FILLED if rest.filled > 0 else OPEN, amount=rest.amount,
                                      price=rest.price, filled=rest.filled,
                                      average_price=rest.price if rest.filled > 0 else None,
                                      created_ms=rest.created_ms, updated_ms=rest.created_ms))

    # --- what the caller feeds in and reads back -------------------------------------------------
    @property
    def wallet(self) -> Wallet:
        return self._account.wallet

    @property
    def resting(self) -> list[RestingOrder]:
        """The engine's view of the resting orders (what a paper bot persists)."""
        return list(self._account.open_orders)

    def set_market(self, market: Market) -> None:
        self.market = market

    def advance(self, bars: Sequence[Bar]) -> list[VenueTrade]:
        """Closed candles (oldest first): resting limit orders fill where the market traded through them."""
        fills_before, cancelled_before = len(self._account.fills), len(self._account.cancelled)
        paper.match_resting(self._account, bars, rules=self.rules, cfg=self.cfg)
        trades = [self._record_fill(f) for f in self._account.fills[fills_before:]]
        for order_id in self._account.cancelled[cancelled_before:]:  # no longer funded: dropped
            rejects = [r for r in self._account.rejects if r.order_id == order_id]
            self._update(order_id, status=CANCELLED, code=rejects[-1].code if rejects else "cancelled",
                         message=rejects[-1].message if rejects else "")
        return trades

    # --- the Venue protocol ---------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> VenueOrder:
        self._check_symbol(request.symbol)
        known = self._orders.get(request.client_order_id)
        if known is not None:
            return known  # idempotent: the same client order id is never placed twice
        acct = self._account
        now = self.market.ts_ms if self.market.ts_ms is not None else self._clock()
        intent = Intent(request.side, request.type, amount=request.amount, quote_amount=request.quote_amount,
                        price=request.price, reason=request.reason)
        fills_before = len(acct.fills)
        outcome = paper.execute(acct, intent, request.client_order_id, market=self.market, rules=self.rules,
                                cfg=self.cfg, seed=self.seed, ts_ms=now)
        order = VenueOrder(client_order_id=request.client_order_id, exchange_order_id=None, symbol=self.symbol,
                           side=request.side, type=request.type, status=OPEN, amount=request.amount,
                           price=request.price, created_ms=now, updated_ms=now)
        new_fills = acct.fills[fills_before:]
        if isinstance(outcome, Reject):
            order = replace(order, status=REJECTED, code=outcome.code, message=outcome.message)
            self._remember(order)
            return order
        order = replace(order, exchange_order_id=self._new_exchange_id())
        if isinstance(outcome, RestingOrder):
            # as placed: the price on the price grid, the amount on the amount grid (taker part included)
            placed = outcome.amount + sum((f.amount for f in new_fills), ZERO)
            order = replace(order, price=outcome.price, amount=placed)
        elif request.type == "limit" and isinstance(outcome, Fill):  # all of it filled as taker
            order = replace(order, amount=outcome.amount)
        self._remember(order)
        trades = tuple(self._record_fill(f) for f in new_fills)
        if isinstance(outcome, RestingOrder):
            status = PARTIALLY_FILLED if trades else OPEN
            return self._update(order.client_order_id, status=status, trades=trades)
        if outcome is None:  # the taker part of a limit filled; the rest could not be funded
            return self._update(order.client_order_id, status=CANCELLED, trades=trades, code="insufficient_funds",
                                message="the rest of the order could not be funded")
        return self._update(order.client_order_id, status=FILLED, trades=trades)

    def cancel(self, *, symbol: str, client_order_id: str | None = None,
               exchange_order_id: str | None = None) -> VenueOrder:
        order = self._find(symbol, client_order_id, exchange_order_id)
        if order is None:
            raise OrderNotFound(f"no order {client_order_id or exchange_order_id} on {symbol}")
        if order.is_terminal:
            return order
        paper.cancel(self._account, order.client_order_id)
        return self._update(order.client_order_id, status=CANCELLED, code="cancelled")

    def fetch_order(self, *, symbol: str, client_order_id: str | None = None,
                    exchange_order_id: str | None = None) -> VenueOrder | None:
        return self._find(symbol, client_order_id, exchange_order_id)

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]:
        if symbol is not None:
            self._check_symbol(symbol)
        return [self._orders[o.id] for o in self._account.open_orders]

    def trades_since(self, *, symbol: str, cursor: str | None = None, limit: int = 500) -> TradePage:
        self._check_symbol(symbol)
        if cursor is not None and not cursor.isdigit():
            raise VenueError(f"bad trade cursor {cursor!r}")
        start = int(cursor or 0)
        page = tuple(self._trades[start:start + max(1, limit)])
        return TradePage(trades=page, cursor=str(start + len(page)) if page or cursor else None)

    # --- bookkeeping ----------------------------------------------------------------------------
    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise UnknownSymbol(f"this paper venue trades {self.symbol}, not {symbol}")

    def _find(self, symbol: str, client_order_id: str | None, exchange_order_id: str | None) -> VenueOrder | None:
        self._check_symbol(symbol)
        if client_order_id is None and exchange_order_id is None:
            raise VenueError("name the order by its client order id or its exchange order id")
        if client_order_id is None:
            client_order_id = self._by_exchange_id.get(exchange_order_id or "")
        order = self._orders.get(client_order_id or "")
        if order is not None and exchange_order_id is not None and order.exchange_order_id != exchange_order_id:
            return None
        return order

    def _new_exchange_id(self) -> str:
        return f"paper-{next(self._order_seq)}"

    def _remember(self, order: VenueOrder) -> None:
        self._orders[order.client_order_id] = order
        if order.exchange_order_id:
            self._by_exchange_id[order.exchange_order_id] = order.client_order_id

    def _update(self, client_order_id: str, **changes) -> VenueOrder:
        order = replace(self._orders[client_order_id], **changes)
        self._orders[client_order_id] = order
        return order

    def _record_fill(self, fill: Fill) -> VenueTrade:
        """A fill of the engine -> a trade of this venue, and its order's cumulative filled/fees/status."""
        order = self._orders[fill.order_id]
        trade = VenueTrade(trade_id=str(len(self._trades) + 1), client_order_id=order.client_order_id,
                           exchange_order_id=order.exchange_order_id, symbol=self.symbol, side=fill.side,
                           price=fill.price, amount=fill.amount, fees=(Fee(fill.fee_currency, fill.fee),),
                           liquidity=fill.liquidity,
                           ts_ms=fill.ts_ms if fill.ts_ms is not None else self._clock(),
                           slippage=fill.slippage, reference_price=fill.reference_price)
        self._trades.append(trade)
        filled = order.filled + fill.amount
        average = (((order.average_price or ZERO) * order.filled + fill.price * fill.amount) / filled)
        fees = _add_fee(order.fees, trade.fees[0])
        status = order.status
        if order.type == "limit" and status in (OPEN, PARTIALLY_FILLED):
            rest = next((o for o in self._account.open_orders if o.id == order.client_order_id), None)
            status = PARTIALLY_FILLED if rest is not None and rest.remaining > 0 else FILLED
        self._update(order.client_order_id, filled=filled, average_price=average, fees=fees,
                     updated_ms=trade.ts_ms)
        if status != order.status:
            self._update(order.client_order_id, status=status)
        return trade


def _add_fee(fees: tuple[Fee, ...], fee: Fee) -> tuple[Fee, ...]:
    total: dict[str, Decimal] = {f.currency: f.amount for f in fees}
    total[fee.currency] = total.get(fee.currency, ZERO) + fee.amount
    return tuple(Fee(currency, amount) for currency, amount in total.items())
