from django.db import IntegrityError, transaction

from trading.models import WatchlistItem
from trading.services.markets import market_check, markets_ensure


def watch_add(*, user, exchange: str, symbol: str, verify_market: bool = False) -> tuple[WatchlistItem, bool]:
    """Watch a market the exchange lists; `verify_market` loads the market list first if never loaded."""
    if verify_market:
        markets_ensure(exchange=exchange)
    market_check(exchange=exchange, symbol=symbol)
    try:
        with transaction.atomic():
            return WatchlistItem.objects.create(user=user, exchange=exchange, symbol=symbol), True
    except IntegrityError:
        return WatchlistItem.objects.get(user=user, exchange=exchange, symbol=symbol), False


def watch_remove(*, item: WatchlistItem) -> None:
    item.delete()
