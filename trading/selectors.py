from django.conf import settings
from django.db.models import QuerySet

from trading.models import Candle, Market, WatchlistItem


def watchlist_for(user) -> QuerySet[WatchlistItem]:
    return WatchlistItem.objects.filter(user=user)


def watched_pairs(user) -> list[tuple[str, str]]:
    """The user's watchlist, or the platform default while it is empty."""
    pairs = list(watchlist_for(user).values_list("exchange", "symbol"))
    if pairs:
        return pairs
    out = []
    for pair in settings.DEFAULT_WATCHLIST:
        exchange, _, symbol = pair.partition(":")
        if exchange and symbol:
            out.append((exchange, symbol))
    return out


def market_known(*, exchange: str, symbol: str) -> bool | None:
    """True/False once the exchange's markets are synced; None while we know nothing yet."""
    markets = Market.objects.filter(exchange=exchange)
    if not markets.exists():
        return None
    return markets.filter(symbol=symbol).exists()


def candles_recent(*, exchange: str, symbol: str, timeframe: str = "1m", limit: int = 200) -> list[Candle]:
    rows = Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).order_by("-ts")[:limit]
    return list(reversed(rows))


def data_source_label() -> dict:
    source = settings.MARKET_DATA_SOURCE
    labels = {"ccxt": "Live exchange prices", "replay": "Replay of recorded prices (not live)",
              "synthetic": "Synthetic prices (simulated, not real)"}
    return {"source": source, "real": source == "ccxt", "label": labels[source]}
