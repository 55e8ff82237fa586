"""How numbers are shown to people (pages, CSV, messages): plain Python, Decimal in, text out.

Amounts and prices at the market's precision (its amount and price steps), money at the quote
currency's (2 decimals for fiat and stablecoins, 8 for crypto); exact rounding half to even on the
digits, never float, never exponent notation, never "-0". The API does not use this: it keeps exact
normalized strings (trading.api.serializers.exact_decimal).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

DASH = "—"
FIAT_LIKE = frozenset({
    "USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD", "TRY", "BRL", "ZAR", "NGN", "KES", "UGX", "IDR",
    "MYR", "PLN", "UAH", "RUB", "ARS", "MXN", "INR", "KRW", "SGD", "HKD",
    "USDT", "USDC", "BUSD", "TUSD", "FDUSD", "DAI", "USDP", "PYUSD", "EURC", "EURT", "USDE",
})
CRYPTO_PLACES = 8
_CTX = Context(prec=80)


def dec(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return d if d.is_finite() else None


def places_of(step) -> int | None:
    """0.01 -> 2, 0.00001 -> 5, 0.5 -> 1, 1 -> 0, 10 -> 0; None for no (or a nonsensical) step."""
    d = dec(step)
    if d is None or d <= 0:
        return None
    return max(0, -d.normalize().as_tuple().exponent)


def currency_places(currency: str | None) -> int:
    return 2 if (currency or "").upper() in FIAT_LIKE else CRYPTO_PLACES


def fixed(value, places: int, *, grouped: bool = False) -> str:
    """Exactly `places` decimals (half even): fixed(1.005, 2) -> "1.00"; never "-0.00"."""
    d = dec(value)
    if d is None:
        return DASH
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_CTX)
    if q == 0:
        q = abs(q)
    return f"{q:,.{places}f}" if grouped else f"{q:.{places}f}"


def trimmed(value, places: int = CRYPTO_PLACES) -> str:
    """At most `places` decimals, trailing zeros dropped: 0E-18 -> "0", 100.0500 -> "100.05"."""
    text = fixed(value, places)
    if text == DASH:
        return text
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class MarketFormat:
    """The display precision of one market; unknown steps fall back to at most 8 decimals, trimmed."""

    base: str
    quote: str
    price_places: int | None = None
    amount_places: int | None = None

    @property
    def money_places(self) -> int:
        return currency_places(self.quote)

    def price(self, value) -> str:
        return trimmed(value) if self.price_places is None else fixed(value, self.price_places)

    def amount(self, value) -> str:
        return trimmed(value) if self.amount_places is None else fixed(value, self.amount_places)

    def money(self, value, *, grouped: bool = True) -> str:
        return fixed(value, self.money_places, grouped=grouped)

    def as_json(self) -> dict:
        return {"base": self.base, "quote": self.quote, "price_places": self.price_places,
                "amount_places": self.amount_places, "money_places": self.money_places}


def market_format_for(symbol: str, *, price_step=None, amount_step=None, base: str | None = None,
                      quote: str | None = None) -> MarketFormat:
    b, _, q = (symbol or "").partition("/")
    return MarketFormat(base=base or b, quote=quote or q.split(":")[0], price_places=places_of(price_step),
                        amount_places=places_of(amount_step))


def duration(seconds) -> str:
    """45 s, 12 min, 5 h 12 min, 3 d 4 h: how long a position was (or has been) open."""
    if seconds is None:
        return DASH
    s = max(0, int(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
