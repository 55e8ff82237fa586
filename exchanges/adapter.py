"""The one door to exchanges: every ccxt call in the platform goes through this module.

It builds ccxt clients (keyless for public market data, or from a user's key), applies
`CCXT_OVERRIDES` so tests, testnets and the local emulator can point the real client elsewhere,
always sets a timeout and ccxt's rate limiter, and turns ccxt's exceptions into our own small
`ExchangeError` family whose messages are safe to show a user: they never carry the API key,
the secret, a signature or the signed URL that ccxt puts into its own exception text.

Values come back as ccxt returns them (floats, possibly None); validating prices and
converting to Decimal is the caller's job (see trading/feeds.py).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import ccxt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.api import DomainError

log = logging.getLogger(__name__)

PUBLIC_CLIENT_TTL_SECONDS = 3600  # markets (precision, limits, fees) are reloaded at least hourly


@dataclass(frozen=True, repr=False)
class Credentials:
    api_key: str
    secret: str
    passphrase: str = ""
    uid: str = ""

    def __repr__(self) -> str:
        def shown(value: str) -> str:
            return "'***'" if value else "''"

        return (f"Credentials(api_key={shown(self.api_key)}, secret={shown(self.secret)}, "
                f"passphrase={shown(self.passphrase)}, uid={shown(self.uid)})")


# --- errors ------------------------------------------------------------------------------

class ExchangeError(DomainError):
    """Anything that went wrong talking to an exchange; the message is safe to show."""

    code = "exchange_error"
    status = 502


class UnsupportedExchange(ExchangeError):
    code = "unsupported_exchange"
    status = 400


class SandboxUnavailable(ExchangeError):
    code = "sandbox_unavailable"
    status = 400


class InvalidCredentials(ExchangeError):
    code = "invalid_credentials"
    status = 400


class PermissionDenied(ExchangeError):
    code = "permission_denied"
    status = 403


class RateLimited(ExchangeError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    code = "exchange_unavailable"
    status = 502


class ExchangeTimeout(ExchangeUnavailable):
    code = "exchange_unavailable"
    status = 504


class InvalidOrder(ExchangeError):
    code = "invalid_order"
    status = 400


class OrderNotFound(InvalidOrder):
    code = "order_not_found"
    status = 404


class InsufficientFunds(ExchangeError):
    code = "insufficient_funds"
    status = 400


class BadSymbol(ExchangeError):
    code = "bad_symbol"
    status = 400


class BadExchangeData(ExchangeError):
    code = "bad_exchange_data"
    status = 502


_URL_RE = re.compile(r"\b(?:https?|wss?)://\S+", re.IGNORECASE)
_SIGNED_PARAM_RE = re.compile(r"(signature|sign|apikey|api_key|key|secret|passphrase|token)=[^&\s\"']*",
                              re.IGNORECASE)
_LONG_TOKEN_RE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")  # signatures, keys, nonces: never worth showing


def _scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """User-safe text: no URLs, no signed parameters, no long tokens, none of the given secrets."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _URL_RE.sub("[url]", text)
    text = _SIGNED_PARAM_RE.sub(r"\1=[redacted]", text)
    text = _LONG_TOKEN_RE.sub("[redacted]", text)
    text = " ".join(text.split())
    return text[:200]


def _exchange_says(exc: Exception, secrets: Iterable[str]) -> str:
    """The exchange's own explanation, when ccxt's message carries a JSON body with one.

    ccxt messages are "<id> <method> <url>" or "<id> <body>"; only a message field from a JSON
    body is ever shown, scrubbed, never the rest.
    """
    text = str(exc)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return ""
    try:
        body = json.loads(text[start:end + 1])
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("msg", "message", "error_description", "error", "errorMessage"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("msg")
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value if v)
        if isinstance(value, str) and value.strip():
            return _scrub(value.strip(), secrets)
    return ""


def _retry_after(client) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _translate(exc: Exception, client, secrets: Iterable[str], bad_request: type[ExchangeError]) -> ExchangeError:
    name = getattr(client, "name", None) or getattr(client, "id", None) or "The exchange"
    says = _exchange_says(exc, secrets)
    detail = f" ({name} says: {says})" if says else ""
    timeout_s = (getattr(client, "timeout", None) or settings.CCXT_TIMEOUT_MS) / 1000

    if isinstance(exc, ccxt.PermissionDenied | ccxt.AccountSuspended):
        return PermissionDenied(f"{name} refused: the API key lacks the permission for this, or the account is "
                                f"restricted.{detail}")
    if isinstance(exc, ccxt.AuthenticationError):
        return InvalidCredentials(f"{name} rejected the API key or secret: check both, and that the key is still "
                                  f"active and allows this IP.{detail}")
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(f"Not enough balance on {name} for this order.{detail}")
    if isinstance(exc, ccxt.BadSymbol):
        return BadSymbol(f"{name} does not list this market.{detail}")
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(f"{name} does not know this order.{detail}")
    if isinstance(exc, ccxt.InvalidOrder):
        return InvalidOrder(f"{name} rejected the order.{detail}")
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        retry_after = _retry_after(client)
        when = f" Try again in {retry_after:g} s." if retry_after else " Try again shortly."
        return RateLimited(f"{name} is rate limiting our requests.{when}", retry_after=retry_after)
    if isinstance(exc, ccxt.RequestTimeout):
        return ExchangeTimeout(f"{name} did not answer within {timeout_s:g} s.")
    if isinstance(exc, ccxt.InvalidNonce):
        return ExchangeUnavailable(f"{name} rejected the request time: the server clock may be out of sync.{detail}")
    if isinstance(exc, ccxt.OnMaintenance):
        return ExchangeUnavailable(f"{name} is down for maintenance.{detail}")
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return ExchangeUnavailable(f"{name} is not available right now.{detail}")
    if isinstance(exc, ccxt.NetworkError):
        return ExchangeUnavailable(f"Could not reach {name}.")
    if isinstance(exc, ccxt.BadResponse):
        return BadExchangeData(f"{name} sent a reply we could not read.")
    if isinstance(exc, ccxt.NotSupported):
        return ExchangeError(f"{name} does not support this operation.{detail}", code="not_supported")
    if isinstance(exc, ccxt.BadRequest):
        return bad_request(f"{name} rejected the request.{detail}")
    if isinstance(exc, ccxt.ExchangeError):
        return ExchangeError(f"{name} returned an error.{detail}")
    if isinstance(exc, ccxt.OperationFailed):
        return ExchangeUnavailable(f"{name} could not process the request; try again.{detail}")
    if isinstance(exc, ccxt.BaseError):
        return ExchangeError(f"{name} returned an error.{detail}")
    # ccxt parsing a reply it did not expect (a string where JSON should be, "abc" as a price)
    return BadExchangeData(f"{name} sent data we could not read.")


@contextmanager
def translate_errors(client=None, *, secrets: Iterable[str] = (),
                     bad_request: type[ExchangeError] = ExchangeError) -> Iterator[None]:
    """Run exchange I/O; ccxt's exceptions (and ccxt choking on junk data) leave as ExchangeError.

    Raised `from None`, so a logged traceback does not carry ccxt's text (signed URL, body).
    """
    secrets = (*secrets, *(getattr(client, attr, None) or "" for attr in ("apiKey", "secret", "password", "uid")))
    try:
        yield
    except ExchangeError:
        raise
    except (ccxt.BaseError, TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as exc:
        error = _translate(exc, client, secrets, bad_request)
        log.warning("%s call failed: %s -> %s: %s", getattr(client, "id", "exchange"), exc.__class__.__name__,
                    error.code, error.message)
        raise error from None


# --- clients -----------------------------------------------------------------------------

def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def _config_for(exchange_id: str) -> dict:
    if exchange_id not in settings.SUPPORTED_EXCHANGES:
        raise UnsupportedExchange(f"Unsupported exchange {exchange_id!r}. Choose one of: "
                                  f"{', '.join(settings.SUPPORTED_EXCHANGES)}.")
    overrides = (settings.CCXT_OVERRIDES or {}).get(exchange_id) or {}
    if not isinstance(overrides, dict):
        raise ImproperlyConfigured(f"CCXT_OVERRIDES[{exchange_id!r}] must be a JSON object of ccxt options.")
    return _deep_merge({"enableRateLimit": True, "timeout": int(settings.CCXT_TIMEOUT_MS)}, overrides)


def client_for(exchange_id: str, credentials: Credentials | None = None, *, sandbox: bool = False) -> ccxt.Exchange:
    """A new ccxt sync client: keyless when `credentials` is None, on the testnet when `sandbox`."""
    config = _config_for(exchange_id)
    cls = getattr(ccxt, exchange_id, None)
    if not (isinstance(cls, type) and issubclass(cls, ccxt.Exchange)):
        raise UnsupportedExchange(f"Unsupported exchange {exchange_id!r}: ccxt does not know it.")
    if credentials is not None:
        config.update({"apiKey": credentials.api_key, "secret": credentials.secret})
        if credentials.passphrase:
            config["password"] = credentials.passphrase
        if credentials.uid:
            config["uid"] = credentials.uid
    client = cls(config)
    if sandbox:
        # ccxt lists a "test" URL key even for exchanges without one (value None) and would then
        # silently send every request nowhere, so check the value ourselves.
        if not (client.urls or {}).get("test"):
            raise SandboxUnavailable(f"{client.name} has no sandbox (testnet); use a live key or another exchange.")
        try:
            client.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise SandboxUnavailable(f"{client.name} has no sandbox (testnet) for this API.") from None
    return client


_local = threading.local()


def public_client(exchange_id: str) -> ccxt.Exchange:
    """A keyless client reused per thread, so polls don't reload markets every few seconds.

    Reused while the settings that shape it are unchanged and it is younger than an hour.
    """
    config = _config_for(exchange_id)
    key = (exchange_id, json.dumps(config, sort_keys=True, default=str))
    cache = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = {}
    entry = cache.get(key)
    ttl = getattr(settings, "CCXT_PUBLIC_CLIENT_TTL_SECONDS", PUBLIC_CLIENT_TTL_SECONDS)
    if entry is None or time.monotonic() - entry[1] > ttl:
        if len(cache) >= 16:
            cache.clear()
        entry = cache[key] = (client_for(exchange_id), time.monotonic())
    return entry[0]


# --- calls -------------------------------------------------------------------------------

def _checked(result, what: str, client):
    """ccxt returns its structures with the raw reply under "info"; a string there means junk came back."""
    if not isinstance(result, dict) or isinstance(result.get("info"), str | bytes):
        raise BadExchangeData(f"{getattr(client, 'name', 'The exchange')} sent a {what} we could not read.")
    return result


def load_markets(client, *, reload: bool = False) -> dict:
    with translate_errors(client):
        markets = client.load_markets(reload)
    if not isinstance(markets, dict):
        raise BadExchangeData(f"{client.name} sent a market list we could not read.")
    return markets


def fetch_balance(client) -> dict:
    with translate_errors(client):
        balance = client.fetch_balance()
    return _checked(balance, "balance", client)


def fetch_tickers(client, symbols: Iterable[str]) -> dict[str, dict]:
    """Tickers for many symbols in ONE request (per-symbol only where the exchange has no batch call).

    Symbols the exchange does not list are left out of the request and of the result, so one
    bad symbol cannot fail the batch. Fields may be None; nothing here raises on that.
    """
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        return {}
    with translate_errors(client):
        markets = client.load_markets()
    known = [s for s in wanted if s in (markets or {})]
    if not known:
        return {}
    if client.has.get("fetchTickers"):
        with translate_errors(client):
            raw = client.fetch_tickers(known)
    else:
        raw = {}
        for symbol in known:
            try:
                with translate_errors(client):
                    raw[symbol] = client.fetch_ticker(symbol)
            except (BadExchangeData, BadSymbol):
                continue  # one unreadable ticker leaves that symbol out; outages still raise
    if not isinstance(raw, dict):
        raise BadExchangeData(f"{client.name} sent tickers we could not read.")
    return {s: t for s, t in raw.items() if s in known and isinstance(t, dict)}


def fetch_order_book(client, symbol: str, limit: int | None = None) -> dict:
    with translate_errors(client):
        book = client.fetch_order_book(symbol, limit)
    if not isinstance(book, dict) or not isinstance(book.get("bids"), list) or not isinstance(book.get("asks"), list):
        raise BadExchangeData(f"{client.name} sent an order book we could not read.")
    return book


def fetch_ohlcv(client, symbol: str, timeframe: str = "1m", since: int | None = None,
                limit: int | None = None) -> list[list]:
    with translate_errors(client):
        rows = client.fetch_ohlcv(symbol, timeframe, since, limit)
    if not isinstance(rows, list):
        raise BadExchangeData(f"{client.name} sent candles we could not read.")
    return rows


def create_order(client, symbol: str, type: str, side: str, amount: Decimal, price: Decimal | None = None,
                 params: dict | None = None) -> dict:
    """Place an order. Amount and price go to ccxt as strings, so no float ever rounds our Decimals."""
    with translate_errors(client, bad_request=InvalidOrder):
        order = client.create_order(symbol, type, side, str(amount), None if price is None else str(price),
                                    params or {})
    return _checked(order, "order", client)


def _by_id(order_id: str | None, client_order_id: str | None) -> tuple[str | None, dict]:
    """ccxt's (id, params) for an order named by the exchange's id or by our client order id."""
    if order_id:
        return str(order_id), {}
    if client_order_id:
        return None, {"origClientOrderId": client_order_id}  # Binance's name; ccxt passes it through
    raise InvalidOrder("An order id or a client order id is required.")


def fetch_order(client, order_id: str | None, symbol: str, *, client_order_id: str | None = None) -> dict:
    """One order by the exchange's id, or by our client order id (`origClientOrderId` on Binance)."""
    oid, params = _by_id(order_id, client_order_id)
    with translate_errors(client):
        order = client.fetch_order(oid, symbol, params)
    return _checked(order, "order", client)


def cancel_order(client, order_id: str | None, symbol: str, *, client_order_id: str | None = None) -> dict:
    oid, params = _by_id(order_id, client_order_id)
    with translate_errors(client, bad_request=InvalidOrder):
        order = client.cancel_order(oid, symbol, params)
    return _checked(order, "order", client)


def fetch_my_trades(client, symbol: str, *, from_id: int | None = None, limit: int = 500,
                    order_id: str | None = None) -> list[dict]:
    """The account's trades on `symbol` from trade id `from_id` on (None: the oldest the exchange keeps),
    oldest first. A cursor of trade ids never skips or repeats a trade, unlike a time window.
    `order_id`: only that order's trades (Binance's `orderId`)."""
    if order_id is not None:
        params = {"orderId": str(order_id)}
    else:
        params = {"fromId": int(from_id)} if from_id is not None else {"fromId": 0}
    with translate_errors(client):
        trades = client.fetch_my_trades(symbol, None, limit, params)
    if not isinstance(trades, list):
        raise BadExchangeData(f"{client.name} sent a trade list we could not read.")
    return trades


def fetch_open_orders(client, symbol: str | None = None) -> list[dict]:
    with translate_errors(client):
        orders = client.fetch_open_orders(symbol)
    if not isinstance(orders, list):
        raise BadExchangeData(f"{client.name} sent an order list we could not read.")
    return orders


def check_credentials(exchange_id: str, credentials: Credentials, sandbox: bool = False) -> dict:
    """Connect with the key and read the balance: proves key, secret (and passphrase) work.

    Returns a small summary that holds no secret and no amounts.
    """
    if not credentials or not credentials.api_key or not credentials.secret:
        raise InvalidCredentials("An API key and a secret are both required.")
    balance = fetch_balance(client_for(exchange_id, credentials, sandbox=sandbox))
    totals = balance.get("total") or {}
    nonzero = 0
    for amount in totals.values():
        try:
            nonzero += Decimal(str(amount)) > 0
        except ArithmeticError:
            continue
    return {"exchange": exchange_id, "sandbox": sandbox, "nonzero_assets": nonzero}


def exchange_timeframes(exchange_id: str) -> set[str]:
    """The candle timeframes the exchange offers (ccxt's `timeframes`: no network call); empty if unknown (an
    exchange ccxt no longer knows, such as a recording's bittrex on the replay feed: its 1m candles only)."""
    try:
        client = public_client(exchange_id)
    except UnsupportedExchange:
        return set()
    return set(getattr(client, "timeframes", None) or {})
