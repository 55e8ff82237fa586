from django.contrib import admin

from trading.models import Candle, Market, WatchlistItem


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("exchange", "symbol", "base", "quote", "active", "price_step", "amount_step", "min_amount",
                    "min_cost", "maker_fee", "taker_fee", "updated_at")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "base", "quote")


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    list_display = ("exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")
    list_filter = ("exchange", "timeframe")
    search_fields = ("symbol",)
    date_hierarchy = "ts"
    show_full_result_count = False  # candles run into millions of rows

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WatchlistItem)
class WatchlistItemAdmin(admin.ModelAdmin):
    list_display = ("user", "exchange", "symbol", "created_at")
    list_filter = ("exchange",)
    search_fields = ("user__username", "symbol")
    list_select_related = ("user",)
