"""Number formatting for the trading pages: Decimals shown without float rounding or noise."""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django import template

from trading.formatting import currency_places
from trading.formatting import duration as text

register = template.Library()

DASH = "—"


def _dec(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _fixed(d: Decimal, places: int) -> str:
    return format(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN), "f")


@register.filter
def num(value, places=8):
    """At most `places` decimals, trailing zeros dropped: 0.00120000 -> 0.0012, 65000.00 -> 65000."""
    d = _dec(value)
    if d is None:
        return DASH
    s = _fixed(d, int(places))
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


@register.filter
def money(value, places=2):
    """Fixed decimals with thousands separators: 10234.5 -> 10,234.50."""
    d = _dec(value)
    if d is None:
        return DASH
    q = d.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_EVEN)
    return f"{abs(q) if q == 0 else q:,.{int(places)}f}"  # never "-0.00"


@register.filter
def signed(value, places=2):
    """Money with an explicit sign: +12.30 / -4.00 / 0.00."""
    d = _dec(value)
    if d is None:
        return DASH
    q = d.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_EVEN)
    text = f"{q:,.{int(places)}f}"
    if q > 0:
        return "+" + text
    return text.lstrip("-") if q == 0 else text


@register.filter
def pnl_class(value):
    d = _dec(value)
    if d is None or d == 0:
        return ""
    return "ok" if d > 0 else "bad"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def mul(a, b):
    x, y = _dec(a), _dec(b)
    return None if x is None or y is None else x * y



@register.filter
def price(value, fmt=None):
    """A price at the market's price precision: {{ fill.price|price:fmt }} (fmt: trading.formatting.MarketFormat)."""
    return fmt.price(value) if fmt is not None and hasattr(fmt, "price") else num(value)


@register.filter
def amount(value, fmt=None):
    """An amount at the market's amount precision: {{ fill.amount|amount:fmt }}."""
    return fmt.amount(value) if fmt is not None and hasattr(fmt, "amount") else num(value)


@register.filter
def quote_money(value, fmt=None):
    """Money in the market's quote currency at that currency's decimals: {{ equity|quote_money:fmt }}."""
    places = fmt.money_places if fmt is not None and hasattr(fmt, "money_places") else 2
    return money(value, places)


@register.filter
def quote_signed(value, fmt=None):
    places = fmt.money_places if fmt is not None and hasattr(fmt, "money_places") else 2
    return signed(value, places)


@register.filter
def duration(seconds):
    return text(seconds)


@register.filter
def cur_signed(value, currency=""):
    """Signed money at the currency's decimals: {{ pnl|cur_signed:"USDT" }} -> +12.30, BTC -> +0.00012300."""
    return signed(value, currency_places(currency))
