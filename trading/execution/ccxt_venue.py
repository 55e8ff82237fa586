"""The live venue: the Venue protocol (trading/execution/venue.py) on a real exchange through the ccxt
adapter (exchanges/adapter.py), with the owner's decrypted key.

- One ccxt client per exchange key per process (`live_client`), shared by every bot trading with that key,
  so ccxt's rate limiter spaces that key's requests across bots; calls on one client are serialized by a
  lock (ccxt's sync client is not made for concurrent use). The decrypted key lives only in that client in
  worker memory: it is never logged, never stored, never part of an error message (the adapter scrubs).
- Every order carries our deterministic client order id (ccxt's `clientOrderId`, Binance's
  `newClientOrderId`). A submit that times out or fails at the network level (or whose answer we cannot
  read) returns status `unknown` with no exchange id: the caller looks it up by client order id and never
  sends it again blindly. An exchange that refuses the id as a duplicate already has it: the order is
  looked up and returned as it is (submit is idempotent per client order id).
- The market's precision and minimum amount / notional are applied before anything is sent; an order the
  market or the bot's live allocation does not allow is `rejected` here, without a request.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.conf import settings

from exchanges import adapter
from exchanges.adapter import ExchangeError
from keys.models import ExchangeKey
from keys.services import key_credentials
from trading.execution.states import CANCELLED, FILLED, OPEN, REJECTED, UNKNOWN
from trading.execution.types import Fee, OrderRequest, TradePage, VenueOrder, VenueTrade
from trading.execution.venue import OrderNotFound, VenueError

ZERO = Decimal(0)
# network-level failures: the request may or may not have reached the exchange
UNCERTAIN = (adapter.ExchangeUnavailable, adapter.BadExchangeData)
CCXT_STATUS = {"open": OPEN, "closed": FILLED, "canceled": CANCELLED, "cancelled": CANCELLED, "expired": CANCELLED,
               "rejected": REJECTED}


class SubmitNotAllowed(VenueError):
    code = "live_not_allowed"


class _Client:
    def __init__(self, client, fingerprint: str):
        self.client, self.fingerprint = client, fingerprint
        self.lock = threading.Lock()
        self.markets_at = 0.0


_clients: dict[int, _Client] = {}
_clients_lock = threading.Lock()
MARKETS_TTL_SECONDS = 3600
BRIDGE = "USDT"  # a fee currency with no pair against the quote is valued through this one
FRESH_TRADE_MS = 120_000  # a trade younger than this is valued at the ticker, an older one at its minute's candle


def _fingerprint(key: ExchangeKey) -> str:
    # the client is rebuilt when the key's row or the exchange configuration changes (never the secret itself)
    sealed = hashlib.sha256(f"{key.api_key_enc}|{key.secret_enc}|{key.passphrase_enc}".encode()).hexdigest()[:16]
    return json.dumps([key.exchange, key.sandbox, key.enc_key_id, sealed, settings.CCXT_OVERRIDES,
                       settings.CCXT_TIMEOUT_MS], sort_keys=True, default=str)


def live_client(key: ExchangeKey) -> _Client:
    """The process's one ccxt client for this key (built with the decrypted credentials on first use)."""
    fingerprint = _fingerprint(key)
    with _clients_lock:
        entry = _clients.get(key.pk)
        if entry is None or entry.fingerprint != fingerprint:
            client = adapter.client_for(key.exchange, key_credentials(key=key), sandbox=key.sandbox)
            entry = _clients[key.pk] = _Client(client, fingerprint)
        return entry


def live_clients_forget() -> None:
    """Drop every cached client (tests; a key rotation)."""
    with _clients_lock:
        _clients.clear()


def _dec(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _ms(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class CcxtVenue:
    """A Venue on the exchange of `key`. `quote_free` / `base_free`: what the bot's live allocation still
    allows it to spend / sell (None: no check, e.g. for cancels and lookups); `prices` a reference price per
    symbol for the minimum notional and allocation checks of market orders. `allow_submit=False` gives a
    venue that only looks up and cancels (the safety paths, which run even after the gate has closed)."""

    def __init__(self, *, key: ExchangeKey, quote_free: Decimal | None = None, base_free: Decimal | None = None,
                 prices: dict[str, Decimal] | None = None, allow_submit: bool = True,
                 on_request: Callable[[str], None] | None = None):
        self.key = key
        self.quote_free, self.base_free = quote_free, base_free
        self.prices = dict(prices or {})
        self.allow_submit = allow_submit
        self.on_request = on_request
        self._entry: _Client | None = None

    # --- plumbing -------------------------------------------------------------------------------------

    @property
    def entry(self) -> _Client:
        if self._entry is None:
            self._entry = live_client(self.key)
        return self._entry

    def _call(self, what: str, fn, *args, **kwargs):
        entry = self.entry
        with entry.lock:
            if self.on_request:
                self.on_request(what)
            return fn(entry.client, *args, **kwargs)

    def market(self, symbol: str) -> dict:
        entry = self.entry
        with entry.lock:
            fresh = time.monotonic() - entry.markets_at < MARKETS_TTL_SECONDS and entry.client.markets
            if not fresh:
                if self.on_request:
                    self.on_request("load_markets")
                adapter.load_markets(entry.client, reload=bool(entry.markets_at))
                entry.markets_at = time.monotonic()
            market = (entry.client.markets or {}).get(symbol)
        if market is None:
            raise adapter.BadSymbol(f"{entry.client.name} does not list {symbol}.")
        return market

    # --- the Venue protocol ---------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> VenueOrder:
        if not self.allow_submit:
            raise SubmitNotAllowed("This venue only looks up and cancels orders.")
        now = int(time.time() * 1000)

        def refused(code: str, message: str) -> VenueOrder:
            return VenueOrder(client_order_id=request.client_order_id, exchange_order_id=None, symbol=request.symbol,
                              side=request.side, type=request.type, status=REJECTED, amount=request.amount,
                              price=request.price, created_ms=now, code=code, message=message)

        try:
            market = self.market(request.symbol)
            amount, price, cost = self._sized(request, market)
        except _Refused as exc:
            return refused(exc.code, exc.message)
        except ExchangeError as exc:
            return refused(exc.code, exc.message)
        params: dict = {"clientOrderId": request.client_order_id}
        if amount is None:
            params["cost"] = str(cost)  # a market order sized in quote (Binance: quoteOrderQty)
        try:
            raw = self._call("create_order", adapter.create_order, request.symbol, request.type, request.side,
                             amount, price, params)
        except UNCERTAIN as exc:
            # the answer is lost: the order may be on the exchange. Look it up later, never resend blindly.
            return VenueOrder(client_order_id=request.client_order_id, exchange_order_id=None,
                              symbol=request.symbol, side=request.side, type=request.type, status=UNKNOWN,
                              amount=amount, price=price, created_ms=now, code=exc.code, message=exc.message)
        except adapter.InvalidOrder as exc:
            if "duplicate order" in exc.message.lower():
                # the exchange has this client id already: that order is ours, as it is now
                try:
                    found = self.fetch_order(symbol=request.symbol, client_order_id=request.client_order_id)
                except UNCERTAIN as lost:
                    found = None
                    exc = lost
                if found is not None:
                    return found
                return VenueOrder(client_order_id=request.client_order_id, exchange_order_id=None,
                                  symbol=request.symbol, side=request.side, type=request.type, status=UNKNOWN,
                                  amount=amount, price=price, created_ms=now, code="duplicate_client_id",
                                  message=exc.message)
            return refused(exc.code, exc.message)
        except ExchangeError as exc:
            # refused before it was placed: bad key, no funds, rate limited, unknown market
            return refused(exc.code, exc.message)
        return self._order(raw, fallback=request)

    def _sized(self, request: OrderRequest, market: dict) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(amount, price, quote cost) at the market's precision; raises _Refused below the market's minimums
        or beyond the bot's live allocation."""
        client = self.entry.client
        limits = market.get("limits") or {}
        min_amount = _dec((limits.get("amount") or {}).get("min"))
        min_cost = _dec((limits.get("cost") or {}).get("min"))
        price = None
        if request.price is not None:
            price = _dec(client.price_to_precision(request.symbol, str(request.price)))
        reference = price if price is not None else self.prices.get(request.symbol)
        amount = cost = None
        if request.amount is not None:
            try:
                amount = _dec(client.amount_to_precision(request.symbol, str(request.amount)))
            except Exception:  # noqa: BLE001 - ccxt raises InvalidOrder below the precision step
                amount = ZERO
            if not amount or amount <= 0 or (min_amount is not None and amount < min_amount):
                raise _Refused("below_min_amount", f"{request.amount} {market.get('base', '')} is below the "
                                                   f"market's minimum amount ({min_amount}) after rounding to its "
                                                   f"precision.")
            if reference is not None:
                cost = amount * reference
        else:
            step = _dec((market.get("precision") or {}).get("price")) or Decimal("0.00000001")
            cost = request.quote_amount.quantize(step, rounding=ROUND_DOWN) if step < 1 else request.quote_amount
        if cost is not None and min_cost is not None and cost < min_cost:
            raise _Refused("below_min_notional", f"The order is worth {cost:f} {market.get('quote', '')}, below "
                                                 f"the market's minimum of {min_cost:f}.")
        if request.side == "buy" and self.quote_free is not None and cost is not None and cost > self.quote_free:
            raise _Refused("allocation_exceeded", f"The order needs {cost:f} {market.get('quote', '')}; the bot's "
                                                  f"live allocation has {self.quote_free:f} left.")
        if request.side == "sell" and self.base_free is not None and amount is not None and amount > self.base_free:
            raise _Refused("position_exceeded", f"The order sells {amount:f} {market.get('base', '')}; the bot "
                                                f"holds {self.base_free:f}.")
        return amount, price, cost

    def cancel(self, *, symbol: str, client_order_id: str | None = None,
               exchange_order_id: str | None = None) -> VenueOrder:
        try:
            raw = self._call("cancel_order", adapter.cancel_order, exchange_order_id, symbol,
                             client_order_id=client_order_id)
        except adapter.OrderNotFound:
            # Binance answers "Unknown order" for an order that is already filled or cancelled too
            found = self.fetch_order(symbol=symbol, client_order_id=client_order_id,
                                     exchange_order_id=exchange_order_id)
            if found is None:
                raise OrderNotFound(f"The exchange does not know the order {client_order_id or exchange_order_id}.") \
                    from None
            return found
        order = self._order(raw)
        if order.client_order_id != client_order_id and client_order_id:
            # Binance names the cancel request's own id in clientOrderId, the order's in origClientOrderId
            order = _replace_client_id(order, client_order_id)
        return order

    def fetch_order(self, *, symbol: str, client_order_id: str | None = None,
                    exchange_order_id: str | None = None) -> VenueOrder | None:
        if not client_order_id and not exchange_order_id:
            raise VenueError("fetch_order needs a client order id or an exchange order id")
        try:
            raw = self._call("fetch_order", adapter.fetch_order, exchange_order_id, symbol,
                             client_order_id=client_order_id)
        except adapter.OrderNotFound:
            return None
        order = self._order(raw)
        if client_order_id and exchange_order_id is None and order.client_order_id != client_order_id:
            return None
        return order

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]:
        raw = self._call("fetch_open_orders", adapter.fetch_open_orders, symbol)
        return sorted((self._order(o) for o in raw), key=lambda o: (o.created_ms or 0, o.exchange_order_id or ""))

    def trades_since(self, *, symbol: str, cursor: str | None = None, limit: int = 500) -> TradePage:
        from_id = int(cursor) + 1 if cursor else None
        raw = self._call("fetch_my_trades", adapter.fetch_my_trades, symbol, from_id=from_id, limit=limit)
        trades = sorted((self._trade(t) for t in raw), key=lambda t: int(t.trade_id))
        return TradePage(trades=tuple(trades), cursor=trades[-1].trade_id if trades else cursor)

    def order_trades(self, *, symbol: str, exchange_order_id: str) -> list[VenueTrade]:
        """Every trade of one order (e.g. the filled part of an order just cancelled), oldest first."""
        raw = self._call("fetch_my_trades", adapter.fetch_my_trades, symbol, order_id=exchange_order_id,
                         limit=1000)
        return sorted((self._trade(t) for t in raw), key=lambda t: int(t.trade_id))

    def fee_values(self, trades, *, base: str, quote: str) -> dict[str, tuple[Decimal | None, str]]:
        """Trade id -> (fee valued in `quote`, note) for the trades whose fee is in a third currency (BNB):
        at that currency's `<fee currency>/<quote>` price when the trade filled (the ticker for a fresh trade,
        else the 1-minute candle of its minute), or through USDT when the exchange lists no such pair
        (BNB/USDT and <quote>/USDT, or USDT/<quote>); (None, why) when neither way has a price. Fees in the
        base or the quote need no price (see live_orders)."""
        out: dict[str, tuple[Decimal | None, str]] = {}
        prices: dict[tuple[str, str, int], tuple[Decimal | None, str]] = {}
        for t in trades:
            fee = t.fees[0] if t.fees else None
            if fee is None or fee.currency in ("", base, quote):
                continue
            at = (fee.currency, quote, t.ts_ms // 60_000)
            if at not in prices:
                prices[at] = self._value_of(fee.currency, quote, t.ts_ms)
            price, note = prices[at]
            out[t.trade_id] = ((fee.amount * price), note) if price is not None else (None, note)
        return out

    def _value_of(self, currency: str, quote: str, ts_ms: int) -> tuple[Decimal | None, str]:
        """One `currency` in `quote` at `ts_ms`: the direct pair, else through the USDT bridge."""
        pair = f"{currency}/{quote}"
        if self._listed(pair) or BRIDGE in (currency, quote):
            return self._price_at(pair, ts_ms)
        leg, _ = self._price_at(f"{currency}/{BRIDGE}", ts_ms) if self._listed(f"{currency}/{BRIDGE}") else (None, "")
        if leg is None:
            return None, f"not valued: {self.key.exchange} lists no {pair} market, nor a price through {BRIDGE}"
        if self._listed(f"{quote}/{BRIDGE}"):
            other, _ = self._price_at(f"{quote}/{BRIDGE}", ts_ms)
            price = leg / other if other else None
        elif self._listed(f"{BRIDGE}/{quote}"):
            other, _ = self._price_at(f"{BRIDGE}/{quote}", ts_ms)
            price = leg * other if other else None
        else:
            other = price = None
        if price is None:
            return None, f"not valued: no {pair} price, directly or through {BRIDGE}"
        return price, (f"valued at {price.normalize():f} {pair} through {BRIDGE} ({currency}/{BRIDGE} "
                       f"{leg.normalize():f}, {quote} {other.normalize():f} {BRIDGE})")

    def _listed(self, pair: str) -> bool:
        try:
            self.market(pair)
        except adapter.BadSymbol:
            return False
        except ExchangeError:
            return True  # the market list cannot be read now: _price_at says so
        return True

    def _price_at(self, pair: str, ts_ms: int) -> tuple[Decimal | None, str]:
        try:
            self.market(pair)
        except adapter.BadSymbol:
            return None, f"not valued: {self.key.exchange} lists no {pair} market"
        except ExchangeError as exc:
            return None, f"not valued: the {pair} price could not be read ({exc.message})"
        try:
            if time.time() * 1000 - ts_ms < FRESH_TRADE_MS:
                ticker = self._call("fetch_tickers", adapter.fetch_tickers, [pair]).get(pair) or {}
                price = _dec(ticker.get("last"))
                how = "ticker"
            else:
                minute = ts_ms // 60_000 * 60_000
                rows = self._call("fetch_ohlcv", adapter.fetch_ohlcv, pair, "1m", since=minute, limit=1)
                price = _dec(rows[0][4]) if rows and rows[0] and rows[0][0] == minute else None
                how = "1-minute candle"
        except ExchangeError as exc:
            return None, f"not valued: the {pair} price could not be read ({exc.message})"
        if not price or price <= 0:
            return None, f"not valued: no {pair} price for the time of the fill"
        return price, f"valued at {price.normalize():f} {pair} ({how})"

    def balance(self) -> dict[str, Decimal]:
        """Total per currency on the exchange account (free + locked), nonzero only."""
        raw = self._call("fetch_balance", adapter.fetch_balance)
        out = {}
        for currency, amount in (raw.get("total") or {}).items():
            value = _dec(amount)
            if value:
                out[currency] = value
        return out

    # --- parsing ccxt's structures --------------------------------------------------------------------

    def _trade(self, t: dict, client_order_id: str | None = None, order: dict | None = None) -> VenueTrade:
        order = order or {}
        fee = t.get("fee") or {}
        fee_amount = _dec(fee.get("cost"))
        fees = (Fee(currency=str(fee.get("currency") or ""), amount=fee_amount),) if fee_amount is not None else ()
        return VenueTrade(trade_id=str(t.get("id")), client_order_id=client_order_id,
                          exchange_order_id=str(t.get("order") or order.get("id") or "") or None,
                          symbol=t.get("symbol") or order.get("symbol") or "", side=t.get("side") or order.get("side"),
                          price=_dec(t.get("price")) or ZERO,
                          amount=_dec(t.get("amount")) or ZERO, fees=fees,
                          liquidity=t.get("takerOrMaker") if t.get("takerOrMaker") in ("maker", "taker") else None,
                          ts_ms=_ms(t.get("timestamp")) or int(time.time() * 1000))

    def _order(self, o: dict, fallback: OrderRequest | None = None) -> VenueOrder:
        info = o.get("info") or {}
        client_id = info.get("origClientOrderId") or o.get("clientOrderId") or (fallback.client_order_id if fallback
                                                                                else None)
        status = CCXT_STATUS.get(o.get("status") or "", OPEN)
        filled = _dec(info.get("executedQty")) if info.get("executedQty") is not None else _dec(o.get("filled"))
        filled = filled or ZERO
        if status == FILLED and filled <= 0:
            status = CANCELLED
        amount = _dec(info.get("origQty")) if info.get("origQty") is not None else _dec(o.get("amount"))
        if not amount:
            amount = None
        price = _dec(o.get("price")) if o.get("type") == "limit" else None
        cost = _dec(info.get("cummulativeQuoteQty")) or _dec(o.get("cost"))
        average = (cost / filled) if cost and filled else _dec(o.get("average"))
        trades = tuple(self._trade(t, client_id, o) for t in (o.get("trades") or []) if t.get("id") is not None)
        fees: dict[str, Decimal] = {}
        for t in trades:
            for f in t.fees:
                fees[f.currency] = fees.get(f.currency, ZERO) + f.amount
        code = message = ""
        if o.get("status") == "expired":
            code, message = "expired", "the exchange expired the order"
        return VenueOrder(client_order_id=client_id, exchange_order_id=str(o["id"]) if o.get("id") else None,
                          symbol=o.get("symbol") or (fallback.symbol if fallback else ""),
                          side=o.get("side") or (fallback.side if fallback else "buy"),
                          type=o.get("type") if o.get("type") in ("market", "limit") else "limit",
                          status=status, amount=amount, price=price, filled=filled, average_price=average,
                          fees=tuple(Fee(c, a) for c, a in fees.items()), created_ms=_ms(o.get("timestamp")),
                          updated_ms=_ms(o.get("lastUpdateTimestamp") or o.get("lastTradeTimestamp")),
                          code=code, message=message, trades=trades)


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _replace_client_id(order: VenueOrder, client_order_id: str) -> VenueOrder:
    return replace(order, client_order_id=client_order_id)
