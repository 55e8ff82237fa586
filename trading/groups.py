"""Channel-layer group names, from one place (ASCII alnum, '-', '_', '.', under 100 chars)."""

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9\-_.]")


def price_group(exchange: str, symbol: str) -> str:
    """price_group("binance", "BTC/USDT") == "prices.binance.BTC_USDT" """
    return f"prices.{_UNSAFE.sub('_', exchange)}.{_UNSAFE.sub('_', symbol)}"[:99]


def user_group(user_id: int) -> str:
    return f"events.user.{int(user_id)}"
