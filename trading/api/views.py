import csv
import time
from datetime import UTC, datetime

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pagination, iso_utc, query_data
from trading.api.serializers import (
    BotIn,
    BotOut,
    BotPatchIn,
    CandleOut,
    CandlesIn,
    DealsIn,
    DealsOut,
    LivePricesIn,
    LivePricesOut,
    MarketsIn,
    MarketsOut,
    OrderOut,
    OrdersIn,
    PerformanceOut,
    ProfitCalendarIn,
    ProfitCalendarOut,
    ProfitIn,
    ProfitSummaryOut,
    StrategyOut,
    TradeOut,
    TradesIn,
    WatchIn,
    WatchOut,
)
from trading.engine.strategies import strategies_describe
from trading.formatting import trimmed
from trading.selectors import (
    bot_deals,
    bot_fills,
    bot_orders,
    bot_performance,
    bots_for,
    candles_recent,
    data_source_label,
    market_format,
    markets_for,
    profit_month,
    profit_summary,
    watchlist_for,
)
from trading.services.bots import bot_archive, bot_create, bot_pause, bot_start, bot_stop, bot_update
from trading.services.markets import markets_ensure
from trading.services.orders import order_cancel
from trading.services.prices import tickers_for_page
from trading.services.watchlist import watch_add, watch_remove


def _num(v):
    return None if v is None else float(v)


class LivePricesApi(APIView):
    @extend_schema(parameters=[LivePricesIn], responses={200: LivePricesOut})
    def get(self, request):
        data = LivePricesIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        exchange, symbols = data.validated_data["exchange"], data.validated_data["symbols"]
        now = time.time()
        # What LivePricesOut documents, written out directly: every value is already a JSON number, string,
        # boolean or null, and the serializer's per-request copy of its fields was a fifth of this view's CPU.
        prices = []
        latest = tickers_for_page(exchange=exchange, symbols=symbols)  # and keep them in the next polls
        for symbol, tick in latest.items():
            if tick is None:
                prices.append({"exchange": exchange, "symbol": symbol, "bid": None, "ask": None, "last": None,
                               "change_24h_pct": None, "volume_24h": None, "ts": None, "received_at": None,
                               "age_seconds": None, "stale": True, "reason": "not polled yet"})
                continue
            prices.append({
                "exchange": exchange, "symbol": symbol, "bid": _num(tick.bid), "ask": _num(tick.ask),
                "last": _num(tick.last), "change_24h_pct": _num(tick.change_24h_pct),
                "volume_24h": _num(tick.volume_24h), "ts": None if tick.exchange_ts is None else int(tick.exchange_ts),
                "received_at": iso_utc(datetime.fromtimestamp(tick.received_at, tz=UTC)),
                "age_seconds": round(now - tick.received_at, 3),
                "stale": bool(tick.stale), "reason": None if tick.reason is None else str(tick.reason),
            })
        return Response({**data_source_label(), "prices": prices})


class WatchlistApi(APIView):
    @extend_schema(responses={200: WatchOut(many=True)})
    def get(self, request):
        return Response(WatchOut(watchlist_for(request.user), many=True).data)

    @extend_schema(request=WatchIn, responses={201: WatchOut, 200: WatchOut})
    def post(self, request):
        data = WatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        item, created = watch_add(user=request.user, verify_market=True, **data.validated_data)
        return Response(WatchOut(item).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WatchlistItemApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        watch_remove(item=get_object_or_404(watchlist_for(request.user), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MarketsApi(APIView):
    @extend_schema(parameters=[MarketsIn], responses={200: MarketsOut},
                   description="The exchange's listed, active markets (loaded from the exchange on first use), "
                               "for market pickers: precision, minimums and fees.")
    def get(self, request):
        data = MarketsIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        exchange = data.validated_data["exchange"]
        known = markets_ensure(exchange=exchange)
        rows = markets_for(exchange=exchange, q=data.validated_data["q"], limit=data.validated_data["limit"])
        return Response(MarketsOut({"exchange": exchange, "known": known, "markets": rows}).data)


class CandlesApi(APIView):
    @extend_schema(parameters=[CandlesIn], responses={200: CandleOut(many=True)})
    def get(self, request):
        data = CandlesIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        return Response(CandleOut(candles_recent(**data.validated_data), many=True).data)


# --- bots ------------------------------------------------------------------------------------

def _bot(request, pk: int):
    return get_object_or_404(bots_for(request.user), pk=pk)


def _bot_ref(request, pk: int):
    """The user's bot with its id alone loaded, for a view that lists its rows by it: the whole row (JSON
    parameters and state, three dozen columns) was a fifth of an orders page's CPU. Another field, if
    read, loads on access."""
    return get_object_or_404(bots_for(request.user).only("id"), pk=pk)


def _page(request, view, queryset, serializer):
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


class BotsApi(APIView):
    @extend_schema(responses={200: BotOut(many=True)})
    def get(self, request):
        # the strategy's state (its JSON, up to a window of candles per bot) is not part of the answer
        bots = bots_for(request.user).defer("state").order_by("-created_at", "-id")
        return Response(BotOut(bots, many=True).data)

    @extend_schema(request=BotIn, responses={201: BotOut}, description=(
        "The symbol must be listed and trading on the exchange (400 unknown_symbol, with suggestions in "
        "the message) and starting_balance at least the market's minimum order value (400 "
        "below_min_notional); 503 markets_unavailable when the exchange's market list cannot be loaded."))
    def post(self, request):
        data = BotIn(data=request.data)
        data.is_valid(raise_exception=True)
        bot = bot_create(owner=request.user, request=request, verify_market=True, **data.validated_data)
        return Response(BotOut(bot).data, status=status.HTTP_201_CREATED)


class BotApi(APIView):
    @extend_schema(responses={200: BotOut})
    def get(self, request, pk: int):
        return Response(BotOut(_bot(request, pk)).data)

    @extend_schema(request=BotPatchIn, responses={200: BotOut})
    def patch(self, request, pk: int):
        bot = _bot(request, pk)
        data = BotPatchIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        bot = bot_update(bot=bot, actor=request.user, request=request, **data.validated_data)
        return Response(BotOut(bot).data)

    @extend_schema(request=None, responses={204: None}, description="Archives the bot: it stops, and its history is kept.")
    def delete(self, request, pk: int):
        bot_archive(bot=_bot(request, pk), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotStartApi(APIView):
    @extend_schema(request=None, responses={200: BotOut})
    def post(self, request, pk: int):
        return Response(BotOut(bot_start(bot=_bot(request, pk), actor=request.user, request=request)).data)


class BotStopApi(APIView):
    @extend_schema(request=None, responses={200: BotOut})
    def post(self, request, pk: int):
        return Response(BotOut(bot_stop(bot=_bot(request, pk), actor=request.user, request=request)).data)


class BotPauseApi(APIView):
    @extend_schema(request=None, responses={200: BotOut})
    def post(self, request, pk: int):
        return Response(BotOut(bot_pause(bot=_bot(request, pk), actor=request.user, request=request)).data)


class BotOrdersApi(APIView):
    pagination_class = Pagination  # documented as a page ({count, next, previous, results}), as answered
    @extend_schema(parameters=[OrdersIn], responses={200: OrderOut(many=True)})
    def get(self, request, pk: int):
        bot = _bot_ref(request, pk)
        data = OrdersIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        return _page(request, self, bot_orders(bot=bot, status=data.validated_data.get("status")), OrderOut)


class BotOrderCancelApi(APIView):
    @extend_schema(request=None, responses={200: OrderOut})
    def post(self, request, pk: int, order_id: int):
        bot = _bot(request, pk)
        order = get_object_or_404(bot_orders(bot=bot), pk=order_id)
        return Response(OrderOut(order_cancel(order=order, actor=request.user, request=request)).data)


class BotTradesApi(APIView):
    pagination_class = Pagination  # documented as a page ({count, next, previous, results}), as answered
    @extend_schema(parameters=[TradesIn], responses={200: TradeOut(many=True)})
    def get(self, request, pk: int):
        bot = _bot_ref(request, pk)
        data = TradesIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        fills = bot_fills(bot=bot)
        if data.validated_data.get("side"):
            fills = fills.filter(side=data.validated_data["side"])
        return _page(request, self, fills, TradeOut)


CSV_COLUMNS = ["time", "side", "price", "amount", "cost", "fee", "fee_currency", "slippage", "liquidity",
               "order_id", "order_type", "reason"]


class BotTradesCsvApi(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR},
                   description="Every trade (fill) of the bot, oldest first, as CSV: price and amount at the "
                               "market's precision, cost in the quote currency's decimals, fee and slippage exact.")
    def get(self, request, pk: int):
        bot = _bot(request, pk)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in bot.name)[:50] or "bot"
        response["Content-Disposition"] = f'attachment; filename="{safe}-{bot.pk}-trades.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        # price and amount at the market's precision, cost at the quote currency's, fee and slippage exact
        fmt = market_format(exchange=bot.exchange, symbol=bot.symbol)
        for f in bot_fills(bot=bot, oldest_first=True).iterator(chunk_size=2000):
            writer.writerow([f.ts.isoformat(), f.side, fmt.price(f.price), fmt.amount(f.amount),
                             fmt.money(f.price * f.amount, grouped=False), trimmed(f.fee, 18), f.fee_currency,
                             trimmed(f.slippage, 18), f.liquidity, f.order_id, f.order.type,
                             _csv_safe(f.order.reason)])
        return response


def _csv_safe(text: str) -> str:
    """No spreadsheet formula injection through a reason text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class BotPerformanceApi(APIView):
    @extend_schema(responses={200: PerformanceOut})
    def get(self, request, pk: int):
        return Response(PerformanceOut(bot_performance(bot=_bot(request, pk))).data)


class BotDealsApi(APIView):
    @extend_schema(parameters=[DealsIn], responses={200: DealsOut},
                   description="The open position (entry, size, unrealized P&L, duration) and the closed "
                               "trades (entry, exit, P&L, duration), newest first.")
    def get(self, request, pk: int):
        bot = _bot(request, pk)
        data = DealsIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        return Response(DealsOut(bot_deals(bot=bot, limit=data.validated_data["limit"])).data)


class ProfitSummaryApi(APIView):
    @extend_schema(parameters=[ProfitIn], responses={200: ProfitSummaryOut},
                   description="Realized profit of closed trades across all your bots (deleted ones included), "
                               "net of fees, per quote currency: today / this week / this month / all time, per "
                               "day, week or month, and per pair.")
    def get(self, request):
        data = ProfitIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        return Response(ProfitSummaryOut(profit_summary(request.user, **data.validated_data)).data)


class ProfitCalendarApi(APIView):
    @extend_schema(parameters=[ProfitCalendarIn], responses={200: ProfitCalendarOut},
                   description="One month's realized profit per day (UTC), per quote currency.")
    def get(self, request):
        from django.utils import timezone

        data = ProfitCalendarIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        month = data.validated_data.get("month") or timezone.now().strftime("%Y-%m")
        cal = profit_month(request.user, year=int(month[:4]), month=int(month[5:]))
        days = [d for week in cal["weeks"] for d in week if d is not None]
        return Response(ProfitCalendarOut({**cal, "days": days}).data)


class StrategiesApi(APIView):
    @extend_schema(responses={200: StrategyOut(many=True)})
    def get(self, request):
        return Response(StrategyOut(strategies_describe(), many=True).data)
