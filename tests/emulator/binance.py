"""A local Binance spot REST emulator, written from Binance's public API documentation.

Why: tests and CI have no network, yet we want the *unmodified* ccxt client (its signing, parsing
and error mapping) to run end to end. The emulator speaks just enough of `/api/v3` for that:
market data, the signed account and order endpoints with Binance's own HMAC-SHA256 check and
error bodies, and faults a test can switch on (stalls, 429/418, 5xx, broken JSON, bad prices).

In a test (see tests/emulator/fixtures.py for the pytest fixtures):

    emu = BinanceEmulator().start()
    settings.CCXT_OVERRIDES = emu.ccxt_overrides()
    emu.set_price("BTC/USDT", bid="64999.99", ask="65000.01")
    emu.fail("rate_limit", path="/api/v3/ticker/24hr", times=1)
    assert emu.count("/api/v3/ticker/24hr") == 1
    emu.stop()

Partial fills and fees, the way a real market does them:

    emu.set_depth("BTC/USDT", "0.1")        # 0.1 BTC per price level: a 0.3 market buy fills in 3 trades,
                                            # one tick worse each; a crossing limit order takes what its
                                            # price reaches and rests the rest (PARTIALLY_FILLED)
    emu.trade("BTC/USDT", "95", "0.05")     # the market trades 0.05 at 95: resting orders it reaches fill
                                            # (oldest first, at their limit, as makers), one trade each
    emu.list_market("BNB/USDT")             # list BNBUSDT (not listed by default)
    emu.pay_fees_in_bnb()                   # commissions in BNB (25 % off) while the account holds enough

Standalone, steered over HTTP by another process (the running stack, a benchmark):

    python -m tests.emulator.binance --port 9100
    curl -XPOST localhost:9100/__emulator__/price -d '{"symbol": "BTC/USDT", "bid": 64000, "ask": 64001}'
    curl -XPOST localhost:9100/__emulator__/fault -d '{"kind": "rate_limit", "times": 3}'
    curl -XDELETE localhost:9100/__emulator__/fault
    curl localhost:9100/__emulator__/stats
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import math
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# Test credentials only: 64 alphanumerics, shaped like a real Binance key.
API_KEY = "emulatorApiKeyPlaceholder" + "0" * 39
SECRET = "emulatorSecretPlaceholder" + "0" * 39

FEE = Decimal("0.001")  # 0.1 % maker and taker, Binance's base tier
EIGHT = Decimal("0.00000001")
MAX_PRICE, MAX_QTY = Decimal("1000000"), Decimal("9000")
CONTROL = "/__emulator__/"
TICKER_PATHS = {"/api/v3/ticker/price", "/api/v3/ticker/bookTicker", "/api/v3/ticker/24hr"}
PRICE_KEYS = {"price", "bidPrice", "askPrice", "lastPrice", "openPrice", "highPrice", "lowPrice",
              "prevClosePrice", "weightedAvgPrice", "priceChange", "priceChangePercent"}
INTERVALS = {"1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
             "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800}
WEEK_OFFSET_MS = 4 * 86400 * 1000  # weekly candles open on Monday; 1970-01-01 was a Thursday
MAX_HITS_KEPT = 10_000


@dataclass(frozen=True)
class Spec:
    """One listed symbol with its exchange filters and the price it starts at."""

    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    bid: Decimal
    ask: Decimal
    notional_filter: str = "NOTIONAL"  # older listings still carry the MIN_NOTIONAL filter


def _spec(symbol, base, quote, tick, step, min_qty, min_notional, bid, ask, notional_filter="NOTIONAL") -> Spec:
    d = Decimal
    return Spec(symbol, base, quote, d(tick), d(step), d(min_qty), d(min_notional), d(bid), d(ask), notional_filter)


SPECS = {s.symbol: s for s in (
    _spec("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "0.00001", "5", "64999.99", "65000.01"),
    _spec("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "0.0001", "5", "3499.98", "3500.02"),
    _spec("ETHBTC", "ETH", "BTC", "0.00001", "0.0001", "0.0001", "0.0001", "0.05384", "0.05385"),
    _spec("LTCBTC", "LTC", "BTC", "0.000001", "0.001", "0.001", "0.0001", "0.001251", "0.001253", "MIN_NOTIONAL"),
    _spec("XRPUSDT", "XRP", "USDT", "0.0001", "0.1", "0.1", "5", "0.5214", "0.5215"),
)}
# listed only on request (`list_market`), so the default market list stays what other tests expect
OPTIONAL_SPECS = {s.symbol: s for s in (
    _spec("BNBUSDT", "BNB", "USDT", "0.01", "0.001", "0.001", "5", "599.90", "600.10"),
)}
START_BALANCES = {"BTC": "0.5", "ETH": "2", "USDT": "10000", "LTC": "0", "XRP": "0", "BNB": "0"}
OPEN_STATES = ("NEW", "PARTIALLY_FILLED")  # on the book: cancellable, listed by openOrders
BNB_DISCOUNT = Decimal("0.75")  # Binance takes 25 % off a commission paid in BNB
MAX_LEVELS = 1000  # how far down the book a market order walks when depth is limited

FAULT_KINDS = {"timeout", "rate_limit", "ban", "server_error", "malformed", "null_prices", "garbage_prices",
               "disconnect", "late_answer"}
FAULT_ALIASES = {"429": "rate_limit", "418": "ban", "5xx": "server_error", "slow": "timeout"}
PRICE_FAULTS = {"null_prices", "garbage_prices"}


@dataclass
class Fault:
    """A misbehaviour for the next `times` matching requests (None: until cleared)."""

    kind: str
    path: str | None = None  # None: every exchange endpoint (price faults: every ticker endpoint)
    times: int | None = None
    seconds: float = 30.0  # timeout: how long to stall before answering; late_answer: after executing
    status: int = 500  # server_error: which 5xx
    retry_after: int = 1  # rate_limit / ban: the Retry-After header, seconds
    value: str = "abc"  # garbage_prices: what to put where a price belongs

    def applies_to(self, path: str) -> bool:
        if self.path is not None:
            return self.path == path
        return self.kind not in PRICE_FAULTS or path in TICKER_PATHS


@dataclass(frozen=True)
class OrderReceived:
    """One order request as the emulator received it (its own log, which tests assert on)."""

    api_key: str  # the X-MBX-APIKEY it came with
    symbol: str
    side: str
    type: str
    quantity: str | None
    quote_qty: str | None
    price: str | None
    client_order_id: str | None  # newClientOrderId as sent
    signed: bool  # the HMAC signature checked out
    outcome: str  # "accepted", or the Binance error code and message it was refused with
    order_id: int | None
    at: float


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    query: str
    at: float


@dataclass
class _Market:
    spec: Spec
    bid: Decimal
    ask: Decimal
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = Decimal("1234.5")


@dataclass
class _Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    created: int
    updated: int
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    fills: list = field(default_factory=list)


class BinanceError(Exception):
    """A refusal in Binance's own shape: HTTP status plus {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _missing(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _fmt(value: Decimal) -> str:
    return format(value.quantize(EIGHT), "f")


def _strip_signature(text: str) -> str:
    return "&".join(p for p in text.split("&") if not p.startswith("signature="))


def overrides_for(url: str) -> dict:
    """The CCXT_OVERRIDES entry that points ccxt's binance client at an emulator at `url`.

    Only spot is emulated, so ccxt is told not to load futures markets and not to call the
    wallet (sapi) endpoints it would otherwise use for currencies and margin pairs.
    """
    base = url.rstrip("/")
    api = {"public": f"{base}/api/v3", "private": f"{base}/api/v3", "v1": f"{base}/api/v1"}
    return {"binance": {
        "urls": {"api": dict(api), "test": dict(api)},
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    }}


class BinanceEmulator:
    """A threaded HTTP server on 127.0.0.1 that behaves like Binance spot for the ccxt client."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str = API_KEY, secret: str = SECRET):
        self.host, self._port = host, port
        self.api_key, self.secret = api_key, secret
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._wake = threading.Event()
        self._routes = {
            ("GET", "/api/v3/ping"): (self._ping, False),
            ("GET", "/api/v3/time"): (self._time, False),
            ("GET", "/api/v3/exchangeInfo"): (self._exchange_info, False),
            ("GET", "/api/v3/ticker/price"): (self._ticker_price, False),
            ("GET", "/api/v3/ticker/bookTicker"): (self._book_ticker, False),
            ("GET", "/api/v3/ticker/24hr"): (self._ticker_24hr, False),
            ("GET", "/api/v3/depth"): (self._depth, False),
            ("GET", "/api/v3/klines"): (self._klines, False),
            ("GET", "/api/v3/account"): (self._account, True),
            ("POST", "/api/v3/order"): (self._new_order, True),
            ("GET", "/api/v3/order"): (self._query_order, True),
            ("DELETE", "/api/v3/order"): (self._cancel_order, True),
            ("GET", "/api/v3/openOrders"): (self._open_orders, True),
            ("GET", "/api/v3/myTrades"): (self._my_trades, True),
        }
        self.reset()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> BinanceEmulator:
        self._server = _Server((self.host, self._port), _Handler)
        self._server.emulator = self
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"binance-emulator:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._wake.set()  # stalled "timeout" requests finish now
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # keep-alive connections would otherwise hold their threads
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> BinanceEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    def ccxt_overrides(self) -> dict:
        return overrides_for(self.url)

    def reset(self) -> None:
        """Back to the starting market, balances and no orders, faults or recorded requests."""
        with self._lock:
            self._markets = {s.symbol: _Market(s, s.bid, s.ask, self._mid(s, s.bid, s.ask), self._mid(s, s.bid, s.ask),
                                               max(s.bid, s.ask), min(s.bid, s.ask)) for s in SPECS.values()}
            self._balances = {a: [Decimal(v), Decimal(0)] for a, v in START_BALANCES.items()}
            self._orders: dict[int, _Order] = {}
            self._orders_received: list[OrderReceived] = []
            self._trades: list[dict] = []  # every execution, oldest first (myTrades)
            self._next_order_id = 1000
            self._next_trade_id = 10_000  # one account-wide sequence: myTrades' fromId cursor relies on it
            self._depth: dict[str, Decimal] = {}  # symbol -> base per price level (absent: unlimited)
            self.fees_in_bnb = False
            self._update_id = 1
            self._faults: list[Fault] = []
            self._hits: deque[Hit] = deque(maxlen=MAX_HITS_KEPT)
            self._counts: Counter = Counter()
            self._minute, self._minute_weight = 0, 0
            self.time_offset_ms = 0  # move the emulator's clock to test recvWindow handling
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    # --- steering -----------------------------------------------------------------------

    def set_price(self, symbol: str, bid, ask, last=None) -> dict:
        """Move the market. Any numbers are accepted (even crossed or negative) so tests can make junk."""
        with self._lock:
            m = self._market(symbol)
            m.bid, m.ask = Decimal(str(bid)), Decimal(str(ask))
            m.last = Decimal(str(last)) if last is not None else self._mid(m.spec, m.bid, m.ask)
            m.high, m.low = max(m.high, m.last), min(m.low, m.last)
            self._update_id += 1
            self._match_resting(m)
            return self.price(symbol)

    def set_depth(self, symbol: str, qty=None) -> None:
        """How much base each price level of the book holds for OUR orders (None: unlimited, the default).
        A market order then walks the book one tick per level, one trade per level; a crossing limit order
        takes the levels its price reaches and rests the rest on the book."""
        with self._lock:
            m = self._market(symbol)
            if qty is None:
                self._depth.pop(m.spec.symbol, None)
            else:
                self._depth[m.spec.symbol] = Decimal(str(qty))

    def trade(self, symbol: str, price, qty) -> list[dict]:
        """The market trades `qty` base at `price`: our resting orders that price reaches fill, oldest first, at
        their limit (as makers), until `qty` is used up; each fill is one trade. Returns the trades made."""
        with self._lock:
            m = self._market(symbol)
            price, left = Decimal(str(price)), Decimal(str(qty))
            m.last = price
            m.high, m.low = max(m.high, price), min(m.low, price)
            made = []
            for o in sorted(self._orders.values(), key=lambda o: o.order_id):
                if left <= 0:
                    break
                if o.symbol != m.spec.symbol or o.status not in OPEN_STATES:
                    continue
                if (o.side == "BUY" and price <= o.price) or (o.side == "SELL" and price >= o.price):
                    take = min(left, o.qty - o.executed)
                    made.append(self._fill(o, o.price, take, from_locked=True, maker=True))
                    left -= take
            return made

    def list_market(self, symbol: str) -> None:
        """List one of OPTIONAL_SPECS (e.g. BNB/USDT) from now on."""
        with self._lock:
            spec = OPTIONAL_SPECS[symbol.replace("/", "").upper()]
            mid = self._mid(spec, spec.bid, spec.ask)
            self._markets.setdefault(spec.symbol, _Market(spec, spec.bid, spec.ask, mid, mid, spec.ask, spec.bid))

    def pay_fees_in_bnb(self, on: bool = True) -> None:
        """Charge commissions in BNB (valued at the BNB market's mid, 25 % off), like an account with "use BNB
        to pay for fees" on; a trade the account's free BNB cannot cover pays in the usual asset instead."""
        with self._lock:
            self.fees_in_bnb = bool(on)

    def price(self, symbol: str) -> dict:
        with self._lock:
            m = self._market(symbol)
            return {"symbol": m.spec.symbol, "bid": m.bid, "ask": m.ask, "last": m.last}

    def set_balance(self, asset: str, free, locked=0) -> None:
        with self._lock:
            self._balances[asset.upper()] = [Decimal(str(free)), Decimal(str(locked))]

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        with self._lock:
            free, locked = self._balances.get(asset.upper(), [Decimal(0), Decimal(0)])
            return free, locked

    def fail(self, kind: str, *, path: str | None = None, times: int | None = None, **options) -> Fault:
        """Misbehave on `path` (or everywhere) for the next `times` requests (or until clear_faults()).

        kinds: timeout (stall `seconds`), rate_limit (429 + Retry-After), ban (418), server_error
        (`status`, default 500), malformed (truncated JSON), null_prices, garbage_prices (`value`),
        disconnect (close the connection without an answer), late_answer (execute the request, e.g. place
        the order, then stall `seconds` before answering: the client times out, the order exists).
        """
        kind = FAULT_ALIASES.get(str(kind), str(kind))
        if kind.isdigit() and 500 <= int(kind) <= 599:
            kind, options["status"] = "server_error", int(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {sorted(FAULT_KINDS)}")
        fault = Fault(kind=kind, path=path, times=times, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    # --- observation --------------------------------------------------------------------

    @property
    def requests(self) -> list[Hit]:
        """The exchange requests received (not control calls), oldest first; the last 10,000 are kept."""
        with self._lock:
            return list(self._hits)

    @property
    def orders_received(self) -> list[OrderReceived]:
        """Every POST /api/v3/order that reached the emulator, accepted or not, oldest first."""
        with self._lock:
            return list(self._orders_received)

    def orders(self, client_order_id: str | None = None) -> list[dict]:
        """The orders the exchange holds (any status) as Binance's order query shows them."""
        with self._lock:
            return [self._order_json(o, "QUERY") for o in self._orders.values()
                    if client_order_id is None or o.client_id == client_order_id]

    def private_requests(self) -> list[Hit]:
        """The requests to SIGNED endpoints (account, orders, trades) received, oldest first."""
        signed = {p for (_m, p), (_h, is_signed) in self._routes.items() if is_signed}
        return [h for h in self.requests if h.path in signed]

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(n for (m, p), n in self._counts.items()
                       if (path is None or p == path) and (method is None or m == method.upper()))

    def stats(self) -> dict:
        with self._lock:
            by_path = Counter()
            for (_m, p), n in self._counts.items():
                by_path[p] += n
            return {"url": self.url, "total": sum(by_path.values()), "requests": dict(by_path),
                    "faults": [asdict(f) for f in self._faults], "open_orders": sum(
                        1 for o in self._orders.values() if o.status in OPEN_STATES)}

    # --- HTTP plumbing ------------------------------------------------------------------

    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        path, query = split.path, split.query
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode("utf-8", "replace") if length else ""
        if path.startswith(CONTROL):
            self._control(h, path[len(CONTROL):].strip("/"), body)
            return
        with self._lock:
            self._hits.append(Hit(h.command, path, query, time.time()))
            self._counts[(h.command, path)] += 1
            fault = self._take_fault(path)
            wake = self._wake
        if fault and fault.kind == "timeout":
            wake.wait(fault.seconds)  # then answer normally, long after the client gave up
        elif fault and fault.kind == "disconnect":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        elif fault and fault.kind in ("rate_limit", "ban"):
            if fault.kind == "rate_limit":
                status, msg = 429, (f"Too many requests; current limit of IP({h.client_address[0]}) is 6000 requests "
                                    "per minute. Please use the websocket for live updates to avoid polling the API.")
            else:
                until = self._now_ms() + fault.retry_after * 1000
                status, msg = 418, (f"Way too many requests; IP({h.client_address[0]}) banned until {until}. "
                                    "Please use the websocket for live updates to avoid bans.")
            self._send(h, status, {"code": -1003, "msg": msg}, {"Retry-After": str(fault.retry_after)})
            return
        elif fault and fault.kind == "server_error":
            self._send(h, fault.status, {"code": -1001,
                                         "msg": "Internal error; unable to process your request. Please try again."})
            return
        try:
            status, payload = self._dispatch(h.command, path, query, body, h.headers)
        except BinanceError as exc:
            status, payload = exc.status, {"code": exc.code, "msg": exc.msg}
        if fault and fault.kind == "late_answer":
            wake.wait(fault.seconds)  # executed already; the answer comes after the client gave up
        if fault and status == 200:
            if fault.kind == "malformed":
                text = json.dumps(payload, separators=(",", ":"))
                payload = text[: max(1, len(text) // 2)].encode()
            elif fault.kind in PRICE_FAULTS:
                payload = _spoil(payload, None if fault.kind == "null_prices" else fault.value)
        self._send(h, status, payload)

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.applies_to(path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _dispatch(self, method: str, path: str, query: str, body: str, headers) -> tuple[int, object]:
        route = self._routes.get((method, path))
        if route is None:
            if any(p == path for _m, p in self._routes):
                return 405, "<html><body><h1>405 Method Not Allowed</h1></body></html>"
            return 404, "<html><body><h1>404 Not Found</h1></body></html>"
        handler, signed = route
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # the query string wins, as on Binance
        if (method, path) != ("POST", "/api/v3/order"):
            if signed:
                self._authenticate(query, body, params, headers)
            with self._lock:
                return 200, handler(params)
        ok, outcome, order_id = False, "accepted", None
        try:
            self._authenticate(query, body, params, headers)
            ok = True
            with self._lock:
                result = handler(params)
            order_id = result.get("orderId")
            return 200, result
        except BinanceError as exc:
            outcome = f"{exc.code} {exc.msg}"
            raise
        finally:
            with self._lock:
                self._orders_received.append(OrderReceived(
                    api_key=headers.get("X-MBX-APIKEY") or "", symbol=params.get("symbol", ""),
                    side=params.get("side", ""), type=params.get("type", ""), quantity=params.get("quantity"),
                    quote_qty=params.get("quoteOrderQty"), price=params.get("price"),
                    client_order_id=params.get("newClientOrderId"), signed=ok, outcome=outcome,
                    order_id=order_id, at=time.time()))

    def _authenticate(self, query: str, body: str, params: dict, headers) -> None:
        """Binance's SIGNED check: API key header, HMAC-SHA256 of query + body, timestamp in recvWindow."""
        key = headers.get("X-MBX-APIKEY") or ""
        if not key or not key.isascii() or not key.isalnum():
            raise BinanceError(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = params.get("timestamp", "")
        if not timestamp.isdigit():
            raise _missing("timestamp")
        recv_window = params.get("recvWindow", "5000")
        if not recv_window.isdigit():
            raise _missing("recvWindow")
        if int(recv_window) > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        signature = params.get("signature", "")
        if not signature:
            raise _missing("signature")
        total = _strip_signature(query) + _strip_signature(body)
        expected = hmac.new(self.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        now = self._now_ms()
        if int(timestamp) > now + 1000:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - int(timestamp) > int(recv_window):
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _send(self, h: _Handler, status: int, payload, headers: dict | None = None) -> None:
        if isinstance(payload, bytes):
            data, ctype = payload, "application/json;charset=UTF-8"
        elif isinstance(payload, str):
            data, ctype = payload.encode(), "text/html"
        else:
            data, ctype = json.dumps(payload, separators=(",", ":")).encode(), "application/json;charset=UTF-8"
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("X-MBX-USED-WEIGHT-1M", str(self._used_weight()))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts do that)
            h.close_connection = True

    def _control(self, h: _Handler, name: str, body: str) -> None:
        """The steering API for other processes; plain JSON in and out."""
        try:
            data = json.loads(body) if body else {}
            if h.command == "GET" and name == "stats":
                result = self.stats()
            elif h.command == "POST" and name == "price":
                result = {k: str(v) for k, v in self.set_price(**data).items()}
            elif h.command == "POST" and name == "fault":
                result = asdict(self.fail(**data))
            elif h.command == "DELETE" and name == "fault":
                self.clear_faults()
                result = {"faults": []}
            elif h.command == "POST" and name == "balance":
                self.set_balance(**data)
                result = {"asset": data["asset"].upper(), "free": str(self.balance(data["asset"])[0])}
            elif h.command == "POST" and name == "depth":
                self.set_depth(data["symbol"], data.get("qty"))
                result = {"symbol": data["symbol"], "qty": data.get("qty")}
            elif h.command == "POST" and name == "trade":
                result = {"trades": self.trade(data["symbol"], data["price"], data["qty"])}
            elif h.command == "POST" and name == "fees":
                if data.get("list_market"):
                    self.list_market(data["list_market"])
                self.pay_fees_in_bnb(data.get("bnb", True))
                result = {"fees_in_bnb": self.fees_in_bnb}
            elif h.command == "POST" and name == "reset":
                self.reset()
                result = {"reset": True}
            else:
                self._send(h, 404, {"error": f"no control endpoint {h.command} {name}"})
                return
        except (ValueError, TypeError, KeyError, InvalidOperation, BinanceError) as exc:
            self._send(h, 400, {"error": str(exc)})
            return
        self._send(h, 200, result)

    def _used_weight(self) -> int:
        with self._lock:
            minute = int(time.time() // 60)
            if minute != self._minute:
                self._minute, self._minute_weight = minute, 0
            self._minute_weight += 1
            return self._minute_weight

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # --- helpers ------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(time.time() * 1000) + self.time_offset_ms

    @staticmethod
    def _mid(spec: Spec, bid: Decimal, ask: Decimal) -> Decimal:
        return ((bid + ask) / 2).quantize(spec.tick, rounding=ROUND_DOWN)

    def _market(self, symbol: str) -> _Market:
        market = self._markets.get(symbol.replace("/", "").upper())
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market

    def _symbol_param(self, params: dict) -> _Market:
        if not params.get("symbol"):
            raise _missing("symbol")
        if params["symbol"] not in self._markets:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return self._markets[params["symbol"]]

    def _selection(self, params: dict) -> tuple[list[_Market], bool]:
        """`symbol=X` (one object back), `symbols=["X","Y"]` or nothing (all) -> (markets, single)."""
        if "symbol" in params and "symbols" in params:
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in params:
            return [self._symbol_param(params)], True
        if "symbols" in params:
            try:
                ids = json.loads(params["symbols"])
            except ValueError:
                ids = None
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is "
                                               "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
            if any(i not in self._markets for i in ids):
                raise BinanceError(400, -1121, "Invalid symbol.")
            return [self._markets[i] for i in dict.fromkeys(ids)], False
        return list(self._markets.values()), False

    @staticmethod
    def _int_param(params: dict, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.lstrip("-").isdigit():
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                           "'^[0-9]{1,20}$'.")
        value = int(raw)
        if value < low:
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
        return min(value, high) if high is not None else value

    @staticmethod
    def _dec_param(params: dict, name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0:
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                           "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
        return value

    # --- public endpoints ---------------------------------------------------------------

    def _ping(self, params: dict) -> dict:
        return {}

    def _time(self, params: dict) -> dict:
        return {"serverTime": self._now_ms()}

    def _exchange_info(self, params: dict) -> dict:
        markets, _single = self._selection(params)
        return {
            "timezone": "UTC",
            "serverTime": self._now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(m.spec) for m in markets],
        }

    @staticmethod
    def _symbol_info(s: Spec) -> dict:
        if s.notional_filter == "MIN_NOTIONAL":
            notional = {"filterType": "MIN_NOTIONAL", "minNotional": _fmt(s.min_notional), "applyToMarket": True,
                        "avgPriceMins": 5}
        else:
            notional = {"filterType": "NOTIONAL", "minNotional": _fmt(s.min_notional), "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5}
        return {
            "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
            "quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": _fmt(s.tick), "maxPrice": _fmt(MAX_PRICE),
                 "tickSize": _fmt(s.tick)},
                {"filterType": "LOT_SIZE", "minQty": _fmt(s.min_qty), "maxQty": _fmt(MAX_QTY),
                 "stepSize": _fmt(s.step)},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": _fmt(MAX_QTY),
                 "stepSize": "0.00000000"},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                 "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
                {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
                 "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
                notional,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _ticker_price(self, params: dict):
        markets, single = self._selection(params)
        rows = [{"symbol": m.spec.symbol, "price": _fmt(m.last)} for m in markets]
        return rows[0] if single else rows

    def _book_ticker(self, params: dict):
        markets, single = self._selection(params)
        rows = [{"symbol": m.spec.symbol, "bidPrice": _fmt(m.bid), "bidQty": _fmt(m.spec.min_qty * 100),
                 "askPrice": _fmt(m.ask), "askQty": _fmt(m.spec.min_qty * 120)} for m in markets]
        return rows[0] if single else rows

    def _ticker_24hr(self, params: dict):
        markets, single = self._selection(params)
        now = self._now_ms()
        rows = []
        for m in markets:
            change = m.last - m.open
            pct = (change / m.open * 100).quantize(Decimal("0.001")) if m.open else Decimal(0)
            rows.append({
                "symbol": m.spec.symbol, "priceChange": _fmt(change), "priceChangePercent": str(pct),
                "weightedAvgPrice": _fmt(((m.high + m.low + m.last) / 3).quantize(m.spec.tick)),
                "prevClosePrice": _fmt(m.open), "lastPrice": _fmt(m.last), "lastQty": _fmt(m.spec.min_qty),
                "bidPrice": _fmt(m.bid), "bidQty": _fmt(m.spec.min_qty * 100), "askPrice": _fmt(m.ask),
                "askQty": _fmt(m.spec.min_qty * 120), "openPrice": _fmt(m.open), "highPrice": _fmt(m.high),
                "lowPrice": _fmt(m.low), "volume": _fmt(m.volume), "quoteVolume": _fmt(m.volume * m.last),
                "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 54321, "count": 54321,
            })
        return rows[0] if single else rows

    def _depth(self, params: dict) -> dict:
        m = self._symbol_param(params)
        limit = self._int_param(params, "limit", 100, 1, 5000)
        tick, step = m.spec.tick, m.spec.min_qty

        def qty(i: int) -> str:
            return _fmt(step * (10 + (i * 7) % 13) * 10)

        bids = [[_fmt(m.bid - i * tick), qty(i)] for i in range(limit) if m.bid - i * tick > 0]
        asks = [[_fmt(m.ask + i * tick), qty(i + 3)] for i in range(limit)]
        return {"lastUpdateId": self._update_id, "bids": bids, "asks": asks}

    def _klines(self, params: dict) -> list:
        m = self._symbol_param(params)
        interval = params.get("interval")
        if not interval:
            raise _missing("interval")
        if interval not in INTERVALS:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = self._int_param(params, "limit", 500, 1, 1000)
        start, end = self._int_param(params, "startTime", None), self._int_param(params, "endTime", None)
        step = INTERVALS[interval] * 1000
        offset = WEEK_OFFSET_MS if interval == "1w" else 0

        def floor(t: int) -> int:
            return (t - offset) // step * step + offset

        current = floor(self._now_ms())
        newest = min(current, floor(end)) if end is not None else current
        if start is not None:
            first = floor(start) if floor(start) == start else floor(start) + step
            opens = [t for t in (first + i * step for i in range(limit)) if t <= newest]
        else:
            opens = [t for t in (newest - (limit - 1 - i) * step for i in range(limit)) if t >= 0]
        return [self._candle(m, t, step, current) for t in opens]

    @staticmethod
    def _candle(m: _Market, open_ms: int, step: int, current: int) -> list:
        """A deterministic gentle wave that ends at the current last price."""

        def close_of(k: int) -> Decimal:
            if k == current // step:
                return m.last
            wave = Decimal(str(round(math.sin(k / 3.0) * 0.003, 6)))
            return (m.last * (1 + wave)).quantize(m.spec.tick)

        k = open_ms // step
        o, c = close_of(k - 1), close_of(k)
        h = (max(o, c) * Decimal("1.0005")).quantize(m.spec.tick)
        low = (min(o, c) * Decimal("0.9995")).quantize(m.spec.tick)
        vol = m.spec.min_qty * (1000 + (k * 37) % 500)
        return [open_ms, _fmt(o), _fmt(h), _fmt(low), _fmt(c), _fmt(vol), open_ms + step - 1, _fmt(vol * c),
                100 + k % 50, _fmt(vol / 2), _fmt(vol * c / 2), "0"]

    # --- signed endpoints ---------------------------------------------------------------

    def _account(self, params: dict) -> dict:
        omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
        balances = [{"asset": a, "free": _fmt(free), "locked": _fmt(locked)}
                    for a, (free, locked) in self._balances.items() if not omit_zero or free or locked]
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": _fmt(FEE), "taker": _fmt(FEE), "buyer": _fmt(Decimal(0)),
                                "seller": _fmt(Decimal(0))},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self._now_ms(),
            "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 354937868,
        }

    def _new_order(self, params: dict) -> dict:
        m = self._symbol_param(params)
        spec = m.spec
        side, otype = params.get("side", ""), params.get("type", "")
        if not side:
            raise _missing("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        if not otype:
            raise _missing("type")
        if otype not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        qty, quote_qty = self._dec_param(params, "quantity"), self._dec_param(params, "quoteOrderQty")
        price = self._dec_param(params, "price")
        tif = params.get("timeInForce", "")
        if otype == "LIMIT" and not tif:
            raise _missing("timeInForce")
        if tif and tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(400, -1115, "Invalid timeInForce.")
        if otype == "MARKET":
            if qty is None and quote_qty is None:
                raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were "
                                               "empty/null!")
            ref = m.ask if side == "BUY" else m.bid
            if qty is None:
                qty = (quote_qty / ref).quantize(spec.step, rounding=ROUND_DOWN) if ref > 0 else Decimal(0)
            price = None
        else:
            if qty is None:
                raise _missing("quantity")
            if price is None:
                raise _missing("price")
            if price < spec.tick or price > MAX_PRICE or price % spec.tick:
                raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
            ref = price
        if qty < spec.min_qty or qty > MAX_QTY or qty % spec.step:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        if qty * ref < spec.min_notional:
            raise BinanceError(400, -1013, f"Filter failure: {spec.notional_filter}")
        client_id = params.get("newClientOrderId") or f"emulator{self._next_order_id}"
        if any(o.client_id == client_id for o in self._orders.values()):
            # stricter than Binance (which refuses an id among OPEN orders): an id is never placed twice here
            raise BinanceError(400, -2010, "Duplicate order sent.")

        crosses = price is None or (side == "BUY" and price >= m.ask) or (side == "SELL" and price <= m.bid)
        if otype == "LIMIT_MAKER" and crosses:
            raise BinanceError(400, -2010, "Order would immediately match and take.")
        takes = self._walk(m, side, qty, price) if crosses else []
        rest = qty - sum((q for _p, q in takes), Decimal(0))
        if tif == "FOK" and rest > 0:
            takes, rest = [], qty  # all or nothing: nothing
        rests = rest > 0 and otype != "MARKET" and tif not in ("IOC", "FOK")
        if side == "BUY":
            spend_asset = spec.quote
            spend = sum((p * q for p, q in takes), Decimal(0)) + (rest * price if rests else Decimal(0))
        else:
            spend_asset, spend = spec.base, qty - (Decimal(0) if rests else rest)
        if self._balances.setdefault(spend_asset, [Decimal(0), Decimal(0)])[0] < spend:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")

        now = self._now_ms()
        self._next_order_id += 1
        order = _Order(self._next_order_id, client_id, spec.symbol, side, otype, tif or "GTC",
                       price or Decimal(0), qty, quote_qty or Decimal(0), now, now)
        self._orders[order.order_id] = order
        for fill_price, fill_qty in takes:
            self._fill(order, fill_price, fill_qty, from_locked=False, maker=False)
        if rests:
            locked = rest * price if side == "BUY" else rest
            self._balances[spend_asset][0] -= locked
            self._balances[spend_asset][1] += locked
        elif rest > 0:
            order.status = "EXPIRED"  # IOC / FOK: what the book could not fill now is dropped
        kind = params.get("newOrderRespType") or "FULL"
        return self._order_json(order, kind)

    def _find_order(self, params: dict, error: BinanceError) -> _Order:
        m = self._symbol_param(params)
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                                           "empty/null!")
        for o in self._orders.values():
            if o.symbol == m.spec.symbol and (str(o.order_id) == order_id or (not order_id and o.client_id == client_id)):
                return o
        raise error

    def _query_order(self, params: dict) -> dict:
        return self._order_json(self._find_order(params, BinanceError(400, -2013, "Order does not exist.")), "QUERY")

    def _cancel_order(self, params: dict) -> dict:
        order = self._find_order(params, BinanceError(400, -2011, "Unknown order sent."))
        if order.status not in OPEN_STATES:
            raise BinanceError(400, -2011, "Unknown order sent.")
        spec = self._markets[order.symbol].spec
        left = order.qty - order.executed  # a partially filled order keeps what it filled; the rest is released
        asset, amount = (spec.quote, left * order.price) if order.side == "BUY" else (spec.base, left)
        self._balances[asset][1] -= amount
        self._balances[asset][0] += amount
        order.status, order.updated = "CANCELED", self._now_ms()
        body = self._order_json(order, "RESULT")
        body["origClientOrderId"] = order.client_id
        body["clientOrderId"] = params.get("newClientOrderId") or f"cancel{order.order_id}"
        return body

    def _open_orders(self, params: dict) -> list:
        symbol = None
        if params.get("symbol"):
            symbol = self._symbol_param(params).spec.symbol
        return [self._order_json(o, "QUERY") for o in self._orders.values()
                if o.status in OPEN_STATES and (symbol is None or o.symbol == symbol)]

    def _my_trades(self, params: dict) -> list:
        symbol = self._symbol_param(params).spec.symbol
        from_id = self._int_param(params, "fromId", None)
        start, end = self._int_param(params, "startTime", None), self._int_param(params, "endTime", None)
        order_id = self._int_param(params, "orderId", None)
        limit = self._int_param(params, "limit", 500, 1, 1000)
        rows = [t for t in self._trades if t["symbol"] == symbol and (from_id is None or t["id"] >= from_id)
                and (start is None or t["time"] >= start) and (end is None or t["time"] <= end)
                and (order_id is None or t["orderId"] == order_id)]
        rows.sort(key=lambda t: t["id"])
        # Binance: with fromId the oldest trades from there; otherwise the most recent ones
        return rows[:limit] if from_id is not None or start is not None else rows[-limit:]

    # --- matching -----------------------------------------------------------------------

    def _walk(self, m: _Market, side: str, qty: Decimal, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """The (price, qty) levels an order taking liquidity fills at, best first, up to its limit price."""
        depth = self._depth.get(m.spec.symbol)
        best = m.ask if side == "BUY" else m.bid
        if depth is None or depth <= 0:
            return [(best, qty)]
        sign = 1 if side == "BUY" else -1
        out, left = [], qty
        for level in range(MAX_LEVELS):
            p = best + sign * level * m.spec.tick
            if left <= 0 or p <= 0 or (limit is not None and (p > limit if side == "BUY" else p < limit)):
                break
            take = min(left, depth)
            out.append((p, take))
            left -= take
        return out

    def _bnb_price(self, quote: str) -> Decimal | None:
        """BNB's price in `quote` (the mid of BNB<quote>, or across USDT), None when the emulator lists neither."""
        direct = self._markets.get(f"BNB{quote}")
        if direct is not None:
            return self._mid(direct.spec, direct.bid, direct.ask)
        bnb, cross = self._markets.get("BNBUSDT"), self._markets.get(f"{quote}USDT")
        if bnb is not None and cross is not None and cross.bid > 0:
            return self._mid(bnb.spec, bnb.bid, bnb.ask) / self._mid(cross.spec, cross.bid, cross.ask)
        return None

    def _fill(self, order: _Order, price: Decimal, qty: Decimal | None = None, *, from_locked: bool,
              maker: bool) -> dict:
        """One trade of `qty` (default: what is left) of the order at `price`; its own trade id and commission."""
        spec = self._markets[order.symbol].spec
        qty = order.qty - order.executed if qty is None else qty
        quote_amount = qty * price
        bal = self._balances
        for asset in (spec.base, spec.quote, "BNB"):
            bal.setdefault(asset, [Decimal(0), Decimal(0)])
        slot = 1 if from_locked else 0
        if order.side == "BUY":
            commission, commission_asset = qty * FEE, spec.base
        else:
            commission, commission_asset = quote_amount * FEE, spec.quote
        bnb_price = self._bnb_price(spec.quote) if self.fees_in_bnb else None
        if bnb_price:
            in_bnb = (quote_amount * FEE * BNB_DISCOUNT / bnb_price).quantize(EIGHT)
            if 0 < in_bnb <= bal["BNB"][0]:
                commission, commission_asset = in_bnb, "BNB"
                bal["BNB"][0] -= in_bnb
        if order.side == "BUY":
            bal[spec.quote][slot] -= quote_amount  # a resting buy locked qty * limit and fills at its limit
            bal[spec.base][0] += qty - (commission if commission_asset == spec.base else 0)
        else:
            bal[spec.base][slot] -= qty
            bal[spec.quote][0] += quote_amount - (commission if commission_asset == spec.quote else 0)
        order.executed += qty
        order.cum_quote += quote_amount
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.updated = self._now_ms()
        self._next_trade_id += 1
        fill = {"price": _fmt(price), "qty": _fmt(qty), "commission": _fmt(commission),
                "commissionAsset": commission_asset, "tradeId": self._next_trade_id, "maker": maker}
        order.fills.append(fill)
        trade = {"symbol": order.symbol, "id": fill["tradeId"], "orderId": order.order_id,
                 "orderListId": -1, "price": fill["price"], "qty": fill["qty"],
                 "quoteQty": _fmt(quote_amount), "commission": fill["commission"],
                 "commissionAsset": commission_asset, "time": order.updated,
                 "isBuyer": order.side == "BUY", "isMaker": maker, "isBestMatch": True}
        self._trades.append(trade)
        return trade

    def _match_resting(self, m: _Market) -> None:
        """After the market moves, resting limit orders it crossed fill (the rest of them) at their limit price,
        as makers."""
        for o in self._orders.values():
            if o.symbol != m.spec.symbol or o.status not in OPEN_STATES:
                continue
            if (o.side == "BUY" and m.ask <= o.price) or (o.side == "SELL" and m.bid >= o.price):
                self._fill(o, o.price, from_locked=True, maker=True)

    def _order_json(self, o: _Order, kind: str) -> dict:
        body = {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id}
        if kind == "ACK":
            return {**body, "transactTime": o.created}
        body.update({
            "price": _fmt(o.price), "origQty": _fmt(o.qty), "executedQty": _fmt(o.executed),
            "cummulativeQuoteQty": _fmt(o.cum_quote), "status": o.status, "timeInForce": o.tif, "type": o.type,
            "side": o.side,
        })
        if kind == "QUERY":
            body.update({"stopPrice": _fmt(Decimal(0)), "icebergQty": _fmt(Decimal(0)), "time": o.created,
                         "updateTime": o.updated, "isWorking": o.status in OPEN_STATES, "workingTime": o.created,
                         "origQuoteOrderQty": _fmt(o.quote_qty), "selfTradePreventionMode": "EXPIRE_MAKER"})
            return body
        body.update({"transactTime": o.updated, "workingTime": o.created, "origQuoteOrderQty": _fmt(o.quote_qty),
                     "selfTradePreventionMode": "EXPIRE_MAKER"})
        if kind == "FULL":
            body["fills"] = [{k: v for k, v in f.items() if k != "maker"} for f in o.fills]
        return body


def _spoil(payload, value):
    """Replace every price field in a ticker reply with `value` (None or junk text)."""
    if isinstance(payload, list):
        return [_spoil(p, value) for p in payload]
    if isinstance(payload, dict):
        return {k: (value if k in PRICE_KEYS else v) for k, v in payload.items()}
    return payload


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: BinanceEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like ccxt's requests session expects
    server: _Server

    def setup(self):
        super().setup()
        self.server.emulator._track(self.connection, True)

    def finish(self):
        self.server.emulator._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self):
        self.server.emulator._serve(self)

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format, *args):  # quiet: tests read emu.requests instead
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Binance spot REST emulator (for demos and benchmarks).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    emu = BinanceEmulator(args.host, args.port).start()
    print(f"Binance emulator on {emu.url}")
    print(f"API key: {emu.api_key}\nsecret:  {emu.secret}")
    print(f"CCXT_OVERRIDES='{json.dumps(emu.ccxt_overrides())}'", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
