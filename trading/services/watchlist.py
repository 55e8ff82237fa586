from django.db import IntegrityError, transaction

from config.api import DomainError
from trading.models import WatchlistItem
from trading.selectors import market_known


class UnknownSymbol(DomainError):
    code = "unknown_symbol"


def watch_add(*, user, exchange: str, symbol: str) -> tuple[WatchlistItem, bool]:
    if market_known(exchange=exchange, symbol=symbol) is False:
        msg = f"{exchange} has no market {symbol}."
        raise UnknownSymbol(msg, fields={"symbol": [msg]})
    try:
        with transaction.atomic():
            return WatchlistItem.objects.create(user=user, exchange=exchange, symbol=symbol), True
    except IntegrityError:
        return WatchlistItem.objects.get(user=user, exchange=exchange, symbol=symbol), False


def watch_remove(*, item: WatchlistItem) -> None:
    item.delete()
