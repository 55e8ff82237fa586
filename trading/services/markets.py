"""Markets from the exchange (ccxt load_markets) into the database, for precision, minimums and fees."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from config.api import DomainError
from exchanges.adapter import ExchangeError, load_markets, public_client
from trading.models import Market
from trading.selectors import market_get, markets_suggest


class UnknownMarket(DomainError):
    code = "unknown_symbol"

    def __init__(self, message: str, *, suggestions: list[str] | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.suggestions = suggestions or []


class MarketsUnavailable(DomainError):
    code = "markets_unavailable"
    status = 503


class BalanceBelowMinimum(DomainError):
    code = "below_min_notional"


def _dec(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def _step(precision, mode) -> Decimal | None:
    """ccxt gives precision as a tick size (TICK_SIZE mode) or as a number of decimals."""
    p = _dec(precision)
    if p is None:
        return None
    from ccxt.base.decimal_to_precision import TICK_SIZE

    if mode == TICK_SIZE:
        return p
    return Decimal(1).scaleb(-int(p))


def markets_sync(*, exchange: str) -> int:
    """Load the exchange's markets and upsert them. Returns how many were stored."""
    client = public_client(exchange)
    markets = load_markets(client)
    mode = getattr(client, "precisionMode", None)
    rows = []
    for symbol, m in (markets or {}).items():
        if not isinstance(m, dict) or not m.get("spot", True) or not m.get("base") or not m.get("quote"):
            continue
        limits = m.get("limits") or {}
        precision = m.get("precision") or {}
        rows.append(Market(
            exchange=exchange, symbol=symbol, base=m["base"], quote=m["quote"], active=m.get("active") is not False,
            amount_step=_step(precision.get("amount"), mode), price_step=_step(precision.get("price"), mode),
            min_amount=_dec((limits.get("amount") or {}).get("min")), min_cost=_dec((limits.get("cost") or {}).get("min")),
            maker_fee=_dec(m.get("maker")), taker_fee=_dec(m.get("taker")),
        ))
    with transaction.atomic():
        Market.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["exchange", "symbol"],
            update_fields=["base", "quote", "active", "amount_step", "price_step", "min_amount", "min_cost",
                           "maker_fee", "taker_fee", "updated_at"],
        )
    return len(rows)


def markets_ensure(*, exchange: str) -> bool:
    """Make sure the exchange's market list is stored, loading it now if it never was.

    True when markets are known. With an offline feed (replay, synthetic) there is no exchange to
    ask: False, and callers accept what they cannot check. Exchange I/O: call outside transactions.
    """
    if Market.objects.filter(exchange=exchange).exists():
        return True
    if settings.MARKET_DATA_SOURCE != "ccxt":
        return False
    try:
        markets_sync(exchange=exchange)
    except ExchangeError as exc:
        raise MarketsUnavailable(f"Could not load {exchange}'s market list to check the symbol: {exc.message} "
                                 "Try again in a minute.", fields={"symbol": [exc.message]}) from None
    return Market.objects.filter(exchange=exchange).exists()


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def market_check(*, exchange: str, symbol: str, starting_balance: Decimal | None = None) -> Market | None:
    """The exchange's market for `symbol`, refusing one it does not list (with suggestions) or that does
    not trade, and a starting balance below the market's minimum order value. None while the
    exchange's markets are unknown (nothing to check against)."""
    market = market_get(exchange=exchange, symbol=symbol)
    if market is None:
        if not Market.objects.filter(exchange=exchange).exists():
            return None
        suggestions = markets_suggest(exchange=exchange, symbol=symbol)
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        field = f"{exchange} does not list {symbol}.{hint}"
        raise UnknownMarket(f"{exchange} does not list {symbol}.{hint}", fields={"symbol": [field]},
                            suggestions=suggestions)
    if not market.active:
        msg = f"{exchange} lists {symbol} but does not trade it at the moment (inactive market)."
        raise UnknownMarket(msg, fields={"symbol": [msg]})
    if starting_balance is not None and market.min_cost and starting_balance < market.min_cost:
        msg = (f"Below {exchange}'s minimum order on {symbol} ({_plain(market.min_cost)} {market.quote}): "
               f"a bot starting with {_plain(starting_balance)} {market.quote} could never place an order.")
        raise BalanceBelowMinimum(msg, fields={"starting_balance": [msg]})
    return market
