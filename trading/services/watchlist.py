from django.db import IntegrityError, transaction

from accounts.models import User
from risk.quotas import quota_check
from trading.models import WatchlistItem
from trading.selectors import watched_pairs, watchlist_for
from trading.services.markets import market_check, markets_ensure


def watch_add(*, user, exchange: str, symbol: str, verify_market: bool = False) -> tuple[WatchlistItem, bool]:
    """Watch a market the exchange lists; `verify_market` loads the market list first if never loaded.

    A user who watches nothing of their own sees the platform's default rows; the first symbol they
    add goes next to those rows (they become the user's own, each removable), never replacing them."""
    if verify_market:
        markets_ensure(exchange=exchange)
    market_check(exchange=exchange, symbol=symbol)
    try:
        with transaction.atomic():
            User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()  # orders concurrent adds: the quota holds
            if watchlist_for(user).filter(exchange=exchange, symbol=symbol).exists():
                return WatchlistItem.objects.get(user=user, exchange=exchange, symbol=symbol), False
            quota_check(user_id=user.pk, name="watchlist_symbols", used=watchlist_for(user).count())
            if not watchlist_for(user).exists():
                defaults = [(e, s) for e, s in watched_pairs(user) if (e, s) != (exchange, symbol)]
                WatchlistItem.objects.bulk_create(
                    [WatchlistItem(user=user, exchange=e, symbol=s) for e, s in defaults], ignore_conflicts=True)
            return WatchlistItem.objects.create(user=user, exchange=exchange, symbol=symbol), True
    except IntegrityError:
        return WatchlistItem.objects.get(user=user, exchange=exchange, symbol=symbol), False


def watch_remove(*, item: WatchlistItem) -> None:
    item.delete()
