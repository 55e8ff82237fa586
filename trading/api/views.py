import time
from datetime import UTC, datetime

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.api.serializers import CandleOut, CandlesIn, LivePricesIn, LivePricesOut, WatchIn, WatchOut
from trading.selectors import candles_recent, data_source_label, watchlist_for
from trading.services.prices import subscriptions_touch, tickers_latest
from trading.services.watchlist import watch_add, watch_remove


def _num(v):
    return None if v is None else float(v)


class LivePricesApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("exchange", str, required=True),
                               OpenApiParameter("symbols", str, required=True, description="BTC/USDT,ETH/USDT")],
                   responses={200: LivePricesOut})
    def get(self, request):
        data = LivePricesIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        exchange, symbols = data.validated_data["exchange"], data.validated_data["symbols"]
        subscriptions_touch(exchange=exchange, symbols=symbols)  # keep them in the next polls
        now = time.time()
        prices = []
        for symbol, tick in tickers_latest(exchange=exchange, symbols=symbols).items():
            if tick is None:
                prices.append({"exchange": exchange, "symbol": symbol, "bid": None, "ask": None, "last": None,
                               "change_24h_pct": None, "volume_24h": None, "ts": None, "received_at": None,
                               "age_seconds": None, "stale": True, "reason": "not polled yet"})
                continue
            prices.append({
                "exchange": exchange, "symbol": symbol, "bid": _num(tick.bid), "ask": _num(tick.ask),
                "last": _num(tick.last), "change_24h_pct": _num(tick.change_24h_pct),
                "volume_24h": _num(tick.volume_24h), "ts": tick.exchange_ts,
                "received_at": datetime.fromtimestamp(tick.received_at, tz=UTC),
                "age_seconds": round(now - tick.received_at, 3), "stale": tick.stale, "reason": tick.reason,
            })
        return Response(LivePricesOut({**data_source_label(), "prices": prices}).data)


class WatchlistApi(APIView):
    @extend_schema(responses={200: WatchOut(many=True)})
    def get(self, request):
        return Response(WatchOut(watchlist_for(request.user), many=True).data)

    @extend_schema(request=WatchIn, responses={201: WatchOut, 200: WatchOut})
    def post(self, request):
        data = WatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        item, created = watch_add(user=request.user, **data.validated_data)
        return Response(WatchOut(item).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WatchlistItemApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        watch_remove(item=get_object_or_404(watchlist_for(request.user), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CandlesApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("exchange", str, required=True),
                               OpenApiParameter("symbol", str, required=True),
                               OpenApiParameter("timeframe", str, required=False, default="1m"),
                               OpenApiParameter("limit", int, required=False, default=200)],
                   responses={200: CandleOut(many=True)})
    def get(self, request):
        data = CandlesIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(CandleOut(candles_recent(**data.validated_data), many=True).data)
