"""Markets from the exchange (ccxt load_markets) into the database, for precision, minimums and fees."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from exchanges.adapter import load_markets, public_client
from trading.models import Market


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
