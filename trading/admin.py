from django.contrib import admin

from config.admin import ReadOnlyAdmin
from trading.models import Bot, Candle, Fill, Market, Order, TickRun, WatchlistItem


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


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    """Read-mostly: bots change through services (start/stop/pause below), never by editing fields here."""

    list_display = ("name", "owner", "exchange", "symbol", "strategy", "mode", "status", "quote", "base",
                    "last_tick_at", "last_tick_note", "archived_at")
    list_filter = ("status", "mode", "exchange", "strategy")
    search_fields = ("name", "owner__username", "symbol")
    list_select_related = ("owner",)
    readonly_fields = [f.name for f in Bot._meta.fields]
    actions = ["stop_bots", "pause_bots"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Stop the selected bots (cancels their open orders)")
    def stop_bots(self, request, queryset):
        from trading.services.bots import bot_stop

        for bot in queryset:
            if bot.status != Bot.Status.STOPPED and not bot.archived_at:
                bot_stop(bot=bot, actor=request.user, request=request)
        self.message_user(request, "Stopped.")

    @admin.action(description="Pause the selected running bots")
    def pause_bots(self, request, queryset):
        from trading.services.bots import bot_pause

        for bot in queryset.filter(status=Bot.Status.RUNNING, archived_at__isnull=True):
            bot_pause(bot=bot, actor=request.user, request=request)
        self.message_user(request, "Paused.")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("created_at", "bot", "side", "type", "amount", "price", "status", "filled", "reason")
    list_filter = ("status", "side", "type")
    search_fields = ("bot__name", "client_id")
    list_select_related = ("bot",)
    readonly_fields = [f.name for f in Order._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("ts", "bot", "side", "price", "amount", "fee", "fee_currency", "slippage", "liquidity")
    list_filter = ("side", "liquidity")
    search_fields = ("bot__name",)
    list_select_related = ("bot",)
    readonly_fields = [f.name for f in Fill._meta.fields]
    show_full_result_count = False


@admin.register(TickRun)
class TickRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "exchange", "tick_key", "bots", "evaluated", "skipped", "orders", "fills",
                    "errors", "finished_at")
    list_filter = ("exchange",)
    readonly_fields = [f.name for f in TickRun._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- numbers in list columns: numeric(38, 18) without its padding (3000.000000000000000000 -> 3000) -----------

def _trimmed_column(model, name: str):
    from trading.formatting import trimmed

    field = model._meta.get_field(name)

    @admin.display(description=field.verbose_name, ordering=name, empty_value="—")
    def column(obj):
        value = getattr(obj, name)
        return None if value is None else trimmed(value, field.decimal_places)

    column.__name__ = f"{name}_shown"
    return column


def _trim_decimal_columns(admin_class, model) -> None:
    from django.db.models import DecimalField

    decimals = {f.name for f in model._meta.fields if isinstance(f, DecimalField)}
    admin_class.list_display = tuple(_trimmed_column(model, n) if isinstance(n, str) and n in decimals else n
                                     for n in admin_class.list_display)


for _admin_class, _model in ((MarketAdmin, Market), (CandleAdmin, Candle), (BotAdmin, Bot), (OrderAdmin, Order),
                             (FillAdmin, Fill)):
    _trim_decimal_columns(_admin_class, _model)
