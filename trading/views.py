from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from trading.selectors import data_source_label, watched_pairs, watchlist_for
from trading.services.prices import tickers_latest


@login_required
def dashboard(request):
    pairs = watched_pairs(request.user)
    by_exchange: dict[str, list[str]] = {}
    for exchange, symbol in pairs:
        by_exchange.setdefault(exchange, []).append(symbol)
    latest = {}
    for exchange, symbols in by_exchange.items():
        for symbol, tick in tickers_latest(exchange=exchange, symbols=symbols).items():
            latest[(exchange, symbol)] = tick
    rows = [{"exchange": e, "symbol": s, "tick": latest.get((e, s))} for e, s in pairs]
    own = {(w.exchange, w.symbol): w.pk for w in watchlist_for(request.user)}
    for row in rows:
        row["watch_id"] = own.get((row["exchange"], row["symbol"]))
    chart = request.GET.get("chart") or (f"{pairs[0][0]}:{pairs[0][1]}" if pairs else "")
    return render(request, "trading/dashboard.html", {
        "rows": rows, "feed": data_source_label(), "chart": chart, "exchanges": settings.SUPPORTED_EXCHANGES,
        "stale_after": settings.PRICE_STALE_AFTER_SECONDS,
    })
