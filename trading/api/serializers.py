from django.conf import settings
from rest_framework import serializers

from trading.feeds import TIMEFRAME_SECONDS
from trading.models import Candle, WatchlistItem


def _symbol_field():
    return serializers.RegexField(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$", max_length=64,
                                  error_messages={"invalid": "Use a symbol like BTC/USDT."})


class LivePricesIn(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=())
    symbols = serializers.CharField(max_length=1000, help_text="Comma-separated, e.g. BTC/USDT,ETH/USDT")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES

    def validate_symbols(self, value):
        symbols = [s.strip().upper() for s in value.split(",") if s.strip()]
        if not symbols:
            raise serializers.ValidationError("Name at least one symbol, e.g. BTC/USDT.")
        if len(symbols) > 50:
            raise serializers.ValidationError("At most 50 symbols per request.")
        field = _symbol_field()
        for s in symbols:
            field.run_validation(s)
        return list(dict.fromkeys(symbols))


class PriceOut(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    bid = serializers.FloatField(allow_null=True)
    ask = serializers.FloatField(allow_null=True)
    last = serializers.FloatField(allow_null=True)
    change_24h_pct = serializers.FloatField(allow_null=True)
    volume_24h = serializers.FloatField(allow_null=True)
    ts = serializers.IntegerField(allow_null=True, help_text="Exchange timestamp, unix ms")
    received_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class LivePricesOut(serializers.Serializer):
    source = serializers.CharField()
    real = serializers.BooleanField()
    label = serializers.CharField()
    prices = PriceOut(many=True)


class WatchIn(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=())
    symbol = _symbol_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES


class WatchOut(serializers.ModelSerializer):
    class Meta:
        model = WatchlistItem
        fields = ["id", "exchange", "symbol", "created_at"]


class CandlesIn(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    symbol = _symbol_field()
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS), default="1m")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=200)


class CandleOut(serializers.ModelSerializer):
    t = serializers.SerializerMethodField(help_text="Open time, unix ms")

    class Meta:
        model = Candle
        fields = ["t", "open", "high", "low", "close", "volume"]

    def get_t(self, candle) -> int:
        return int(candle.ts.timestamp() * 1000)
