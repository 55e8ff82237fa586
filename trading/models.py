from django.conf import settings
from django.db import models

DECIMAL = {"max_digits": 38, "decimal_places": 18}


class Market(models.Model):
    """A tradable symbol on an exchange, as ccxt's load_markets describes it."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    base = models.CharField(max_length=32)
    quote = models.CharField(max_length=32)
    active = models.BooleanField(default=True)
    amount_step = models.DecimalField(null=True, blank=True, **DECIMAL)
    price_step = models.DecimalField(null=True, blank=True, **DECIMAL)
    min_amount = models.DecimalField(null=True, blank=True, **DECIMAL)
    min_cost = models.DecimalField(null=True, blank=True, **DECIMAL)
    maker_fee = models.DecimalField(null=True, blank=True, **DECIMAL)
    taker_fee = models.DecimalField(null=True, blank=True, **DECIMAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol"], name="unique_market")]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


class Candle(models.Model):
    """OHLCV for one interval; `ts` is the candle's open time (UTC)."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    ts = models.DateTimeField()
    open = models.DecimalField(**DECIMAL)
    high = models.DecimalField(**DECIMAL)
    low = models.DecimalField(**DECIMAL)
    close = models.DecimalField(**DECIMAL)
    volume = models.DecimalField(**DECIMAL)

    class Meta:
        ordering = ["exchange", "symbol", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "timeframe", "ts"], name="unique_candle"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class WatchlistItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [models.UniqueConstraint(fields=["user", "exchange", "symbol"], name="unique_watch")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.exchange}:{self.symbol}"
