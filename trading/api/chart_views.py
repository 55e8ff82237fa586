"""GET /api/bots/{id}/chart/: the candles the bot decides on and its strategy's indicators, as the engine
computes them (trading.chart_selectors.bot_chart); the bot page draws exactly this."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.api.serializers import ExactDecimalField
from trading.chart_selectors import MAX_CHART_BARS, bot_chart
from trading.selectors import bots_for


def _dec(**kwargs):
    return ExactDecimalField(max_digits=60, decimal_places=18, **kwargs)


class ChartIn(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=120, min_value=1, max_value=MAX_CHART_BARS)


class ChartCandleOut(serializers.Serializer):
    t = serializers.IntegerField(help_text="open time, ms since the epoch (UTC)")
    time = serializers.DateTimeField()
    open = _dec()
    high = _dec()
    low = _dec()
    close = _dec()
    volume = _dec()
    closed = serializers.BooleanField(help_text="false for the candle still forming (no indicator uses it)")


class PointOut(serializers.Serializer):
    t = serializers.IntegerField(help_text="open time of the candle the value is computed at, ms")
    v = _dec(help_text="the indicator's value on the closed candles up to and including that one")

    def to_representation(self, instance):
        t, v = instance
        return super().to_representation({"t": t, "v": v})


class LineOut(serializers.Serializer):
    key = serializers.CharField(help_text="e.g. sma_fast, sma_slow")
    label = serializers.CharField()
    points = PointOut(many=True)


class LevelOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    price = _dec()
    kind = serializers.CharField(help_text="grid, grid_held, dca_base, dca_safety, dca_safety_filled, take_profit")


class PaneLevelOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = _dec()


class PaneOut(serializers.Serializer):
    key = serializers.CharField(help_text="e.g. rsi")
    label = serializers.CharField()
    min = _dec()
    max = _dec()
    points = PointOut(many=True)
    levels = PaneLevelOut(many=True)


class IndicatorsOut(serializers.Serializer):
    lines = LineOut(many=True, help_text="drawn over the candles (sma_cross: fast and slow SMA)")
    levels = LevelOut(many=True, help_text="horizontal price lines (grid lines; DCA base, safety and take profit)")
    pane = PaneOut(allow_null=True, help_text="a pane under the candles (rsi: RSI with oversold/overbought)")


class ChartOut(serializers.Serializer):
    timeframe = serializers.CharField()
    strategy = serializers.CharField()
    candles = ChartCandleOut(many=True)
    indicators = IndicatorsOut()


class BotChartApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("limit", int, required=False, default=120)],
                   responses={200: ChartOut}, summary="The bot's candles and strategy indicators",
                   description=("Candles of the bot's timeframe (built from the stored 1m candles, as the tick builds "
                                "them) and the indicators its strategy decides with, computed by the same engine "
                                "functions: SMA lines (sma_cross), an RSI pane (rsi), grid lines (grid), the open "
                                "deal's base entry, safety order and take-profit levels (dca)."))
    def get(self, request, pk: int):
        bot = get_object_or_404(bots_for(request.user), pk=pk)
        data = ChartIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(ChartOut(bot_chart(bot=bot, **data.validated_data)).data)
