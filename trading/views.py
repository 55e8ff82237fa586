from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from config.api import DomainError
from config.redirects import next_url
from trading.engine.strategies import strategies_describe
from trading.formatting import trimmed
from trading.forms import BotForm
from trading.health import bot_health
from trading.models import Bot
from trading.price_selectors import tickers_latest
from trading.selectors import (
    bot_deals,
    bot_fills,
    bot_orders,
    bot_performance,
    bots_for,
    data_source_label,
    live_cancel_report_last,
    market_format,
    market_formats,
    portfolio_for,
    profit_month,
    profit_summary,
    watched_pairs,
    watchlist_for,
)
from trading.services import bots as bot_services
from trading.services.bots import bot_archive, bot_create, bot_update
from trading.services.orders import order_cancel


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
    formats = market_formats(pairs)
    rows = [{"exchange": e, "symbol": s, "tick": latest.get((e, s)), "fmt": formats[(e, s)]} for e, s in pairs]
    own = {(w.exchange, w.symbol): w.pk for w in watchlist_for(request.user)}
    for row in rows:
        row["watch_id"] = own.get((row["exchange"], row["symbol"]))
    portfolio = portfolio_for(request.user)
    now = timezone.now()
    chart = request.GET.get("chart") or (f"{pairs[0][0]}:{pairs[0][1]}" if pairs else "")
    return render(request, "trading/dashboard.html", {
        "rows": rows, "feed": data_source_label(), "chart": chart, "exchanges": settings.SUPPORTED_EXCHANGES,
        "stale_after": settings.PRICE_STALE_AFTER_SECONDS, "portfolio": portfolio,
        "running": sum(1 for row in portfolio["bots"] if bot_health(row["bot"], now=now).trading),
        "halted": sum(1 for row in portfolio["bots"] if row["bot"].status == Bot.Status.HALTED),
        "portfolio_json": {str(row["bot"].pk): {
            "equity": None if row["equity"] is None else str(row["equity"]), "status": row["bot"].status,
            "health": bot_health(row["bot"], now=now).state,
            "starting_balance": str(row["bot"].starting_balance),
            "currency": row["bot"].symbol.partition("/")[2].split(":")[0]} for row in portfolio["bots"]},
    })


# --- profit across bots ------------------------------------------------------------------------

PROFIT_COUNTS = {"day": 30, "week": 12, "month": 12}


@login_required
def profit(request):
    period = request.GET.get("period") if request.GET.get("period") in PROFIT_COUNTS else "day"
    today = timezone.now().date()
    try:
        year, month = (int(x) for x in request.GET.get("month", "").split("-"))
        shown = date(year, month, 1)
    except ValueError:
        shown = today.replace(day=1)
    if not date(2000, 1, 1) <= shown <= date(2100, 12, 1):
        shown = today.replace(day=1)
    summary = profit_summary(request.user, period=period, count=PROFIT_COUNTS[period], today=today)
    prev_month = (shown - timedelta(days=1)).replace(day=1)
    next_month = (shown + timedelta(days=32)).replace(day=1)
    return render(request, "trading/profit.html", {
        "summary": summary, "period": period, "periods": list(PROFIT_COUNTS),
        "calendar": profit_month(request.user, year=shown.year, month=shown.month), "month": shown,
        "prev_month": prev_month, "next_month": next_month if next_month <= today.replace(day=1) else None,
        "today": today, "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    })


# --- bots (pages) ------------------------------------------------------------------------------

BACKTEST_TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")  # the backtest card's choices
BOT_ACTIONS = {"start": ("started", "bot_start"), "stop": ("stopped", "bot_stop"), "pause": ("paused", "bot_pause")}


@login_required
def bot_list(request):
    return render(request, "trading/bot_list.html", {
        "portfolio": portfolio_for(request.user), "feed": data_source_label(),
        "strategy_names": {s["id"]: s["name"] for s in strategies_describe()},
    })


@login_required
def bot_detail(request, pk: int):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    perf = bot_performance(bot=bot)
    curve = [{"t": int(p.ts.timestamp() * 1000), "equity": trimmed(p.equity, 18)} for p in perf["equity_curve"]]
    if not curve:  # snapshots come after fills and once a minute; before the first one: start -> now
        curve.append({"t": int(bot.created_at.timestamp() * 1000), "equity": trimmed(bot.starting_balance, 18)})
        if perf["equity"] is not None:
            curve.append({"t": int(timezone.now().timestamp() * 1000), "equity": trimmed(perf["equity"], 18)})
    strategy = next((s for s in strategies_describe() if s["id"] == bot.strategy), None)
    fills = bot_fills(bot=bot)
    # the exchange's own order and trade ids: shown for a live bot and for a bot that has traded live
    exchange_ids = bot.mode == Bot.Mode.LIVE or fills.exclude(exchange_trade_id="").exists()
    fmt = market_format(exchange=bot.exchange, symbol=bot.symbol)
    base, _, quote = bot.symbol.partition("/")
    return render(request, "trading/bot_detail.html", {
        "bot": bot, "perf": perf, "position": perf["position"], "strategy": strategy,
        "params": [(p["name"], bot.params.get(p["name"])) for p in (strategy or {}).get("params", [])],
        "open_orders": list(bot_orders(bot=bot, status="open")[:200]),
        "trades": list(fills[:100]), "trades_total": fills.count(), "base": base, "quote": quote.split(":")[0],
        "chart": {"bot_id": bot.pk, "starting_balance": trimmed(bot.starting_balance, 18), "points": curve,
                  "currency": quote.split(":")[0], "fmt": fmt.as_json()},
        "fmt": fmt, "deals": bot_deals(bot=bot, limit=50),
        "fill_markers": [{"t": int(f.ts.timestamp() * 1000), "price": trimmed(f.price, 18), "side": f.side}
                         for f in fills[:500]],
        "feed": data_source_label(), "exchange_ids": exchange_ids,
        "live_cancel_report": live_cancel_report_last(bot=bot), "backtest_timeframes": BACKTEST_TIMEFRAMES,
    })


def _plain(value: Decimal) -> Decimal:
    """numeric(38, 18) -> what a person typed: 1000.000000000000000000 -> 1000."""
    return Decimal(format(value.quantize(Decimal("1e-8")).normalize(), "f"))


def _param_rows(strategies: list[dict], selected: str, values: dict, errors: dict) -> list[dict]:
    """Every strategy with its parameter inputs; the selected one carries the posted/saved values."""
    out = []
    for s in strategies:
        fields = []
        for p in s["params"]:
            mine = s["id"] == selected and p["name"] in values
            value = values[p["name"]] if mine else p.get("default", "")
            bounds = []
            if p.get("min") is not None:
                bounds.append(("> " if p.get("min_exclusive") else "≥ ") + str(p["min"]))
            if p.get("max") is not None:
                bounds.append("≤ " + str(p["max"]))
            fields.append({**p, "value": "" if value is None else str(value), "bounds": ", ".join(bounds),
                           "input": f"params-{s['id']}-{p['name']}",
                           "errors": errors.get(p["name"], []) if s["id"] == selected else []})
        out.append({**s, "fields": fields, "selected": s["id"] == selected})
    return out


@login_required
@require_http_methods(["GET", "POST"])
def bot_form(request, pk: int | None = None):
    bot = get_object_or_404(bots_for(request.user), pk=pk) if pk is not None else None
    strategies = strategies_describe()
    specs = {s["id"]: s for s in strategies}
    initial = ({"name": bot.name, "exchange": bot.exchange, "symbol": bot.symbol,
                "starting_balance": _plain(bot.starting_balance), "strategy": bot.strategy,
                "timeframe": bot.timeframe} if bot else
               {"exchange": settings.SUPPORTED_EXCHANGES[0], "symbol": "BTC/USDT", "starting_balance": 10000,
                "strategy": "sma_cross", "timeframe": "1m"})
    form = BotForm(request.POST or None, initial=initial, strategies=strategies, bot=bot)
    selected = form["strategy"].value() if request.method == "POST" else initial["strategy"]
    if selected not in specs:
        selected = initial["strategy"]
    values = dict(bot.params) if bot and selected == bot.strategy else {}
    param_errors: dict[str, list[str]] = {}
    params_locked = bot is not None and bot.status != Bot.Status.STOPPED  # disabled inputs are not posted
    suggestions: list[str] = []
    if request.method == "POST":
        if not params_locked:
            values = {p["name"]: request.POST.get(f"params-{selected}-{p['name']}", "").strip()
                      for p in specs[selected]["params"]}
        if form.is_valid():
            data = form.cleaned_data
            params = {k: v for k, v in values.items() if v != ""}
            try:
                if bot is None:
                    bot = bot_create(owner=request.user, name=data["name"], exchange=data["exchange"],
                                     symbol=data["symbol"], starting_balance=data["starting_balance"],
                                     strategy=data["strategy"], params=params, timeframe=data["timeframe"],
                                     verify_market=True, request=request)
                    messages.success(request, f"Created “{bot.name}”. It trades on paper; start it when ready.")
                else:
                    fields = {"name": data["name"]}
                    if not params_locked:
                        fields.update(strategy=data["strategy"], params=params)
                        if data.get("timeframe"):  # not posted: unchanged
                            fields["timeframe"] = data["timeframe"]
                    bot_update(bot=bot, actor=request.user, request=request, **fields)
                    messages.success(request, f"Saved “{bot.name}”.")
            except DomainError as exc:
                _errors_into(form, param_errors, exc)
                suggestions = getattr(exc, "suggestions", [])
            else:
                return redirect("bot-detail", pk=bot.pk)
    return render(request, "trading/bot_form.html", {
        "form": form, "bot": bot, "strategies": _param_rows(strategies, selected, values, param_errors),
        "selected": selected, "has_errors": bool(form.is_bound and (form.errors or param_errors)),
        "suggestions": suggestions or form.suggestions,
    })


def _errors_into(form, param_errors: dict, exc: DomainError) -> None:
    """A service's field errors next to the inputs they are about (params.<name> -> that parameter)."""
    placed = False
    for field, errs in (exc.fields or {}).items():
        errs = errs if isinstance(errs, list) else [str(errs)]
        if field.startswith("params."):
            param_errors.setdefault(field.removeprefix("params."), []).extend(errs)
            placed = True
        elif field in form.fields and field in form.cleaned_data:
            form.add_error(field, errs)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@login_required
@require_POST
def bot_action(request, pk: int, action: str):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    done, service = BOT_ACTIONS[action]
    try:
        getattr(bot_services, service)(bot=bot, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"{bot.name}: {exc.message}")
    else:
        messages.success(request, f"“{bot.name}” {done}.")
    return redirect(next_url(request, reverse("bot-detail", args=[bot.pk])))


@login_required
@require_POST
def bot_delete(request, pk: int):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    bot_archive(bot=bot, actor=request.user, request=request)
    messages.success(request, f"Deleted “{bot.name}”: it stopped, and its orders and trades are kept in the archive.")
    return redirect("bot-list")


@login_required
@require_POST
def bot_order_cancel(request, pk: int, order_id: int):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    order = get_object_or_404(bot_orders(bot=bot), pk=order_id)
    try:
        order_cancel(order=order, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"Order {order.pk}: {exc.message}")
    else:
        messages.success(request, f"Cancelled the {order.side} order {order.pk}.")
    return redirect(next_url(request, reverse("bot-detail", args=[bot.pk])))
