"""What the paper tick shares with the platform's edges: the fill configuration (platform defaults under
each bot's overrides) and a market's rules (precision, minimums, fees) as the pure engine's values.
Flattening a position at market (the emergency stop's "halt and flatten") is in trading/execution/flatten.py:
it asks the router for the bot's venue, which may be a live one, so it is no paper code.
"""

from __future__ import annotations

from django.conf import settings

from trading.engine.types import FillConfig, MarketRules
from trading.models import Market as MarketRow

# --- fill configuration and market rules -------------------------------------------------

def platform_fill_config() -> FillConfig:
    """The platform's defaults (settings.PAPER_FILL_CONFIG, JSON of FillConfig fields) over the engine's."""
    return FillConfig.from_overrides(getattr(settings, "PAPER_FILL_CONFIG", None) or None)


def fill_config_for(overrides: dict | None, base: FillConfig | None = None) -> FillConfig:
    return FillConfig.from_overrides(overrides or None, base=base or platform_fill_config())


def market_rules(*, exchange: str, symbol: str) -> MarketRules:
    base, _, quote = symbol.partition("/")
    quote = quote.split(":")[0]
    m = MarketRow.objects.filter(exchange=exchange, symbol=symbol).first()
    if m is None:
        return MarketRules(base_currency=base, quote_currency=quote)
    return MarketRules(amount_step=m.amount_step, price_step=m.price_step, min_amount=m.min_amount,
                       min_cost=m.min_cost, maker_fee=m.maker_fee, taker_fee=m.taker_fee,
                       base_currency=m.base, quote_currency=m.quote)
