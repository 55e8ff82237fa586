from django.contrib import admin, messages

from config.admin import ReadOnlyAdmin
from config.api import DomainError
from risk.models import KillSwitch
from risk.services import can_halt_any_bot
from trading.execution.safety import bot_halt, bot_resume, emergency_stop
from trading.models import Bot, Candle, Fill, Market, Order, TickRun, WatchlistItem
from trading.services.bots import bot_pause, bot_stop


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
    actions = ["stop_bots", "pause_bots", "halt_bots", "resume_bots"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Stop the selected bots (cancels their open orders)")
    def stop_bots(self, request, queryset):
        for bot in queryset:
            if bot.status != Bot.Status.STOPPED and not bot.archived_at:
                bot_stop(bot=bot, actor=request.user, request=request)
        self.message_user(request, "Stopped.")

    @admin.action(description="Pause the selected running bots")
    def pause_bots(self, request, queryset):
        for bot in queryset.filter(status=Bot.Status.RUNNING, archived_at__isnull=True):
            bot_pause(bot=bot, actor=request.user, request=request)
        self.message_user(request, "Paused.")

    # halt / resume through the safety services (risk officer role)
    @admin.action(description="Halt selected bots (cancels their open orders)")
    def halt_bots(self, request, queryset):
        if not can_halt_any_bot(request.user):
            self.message_user(request, "You need the risk officer role to halt bots.", messages.ERROR)
            return
        count = 0
        for bot in queryset:
            bot_halt(bot=bot, actor=request.user, reason=f"halted by staff ({request.user.username})",
                     request=request)
            count += 1
        self.message_user(request, f"Halted {count} bot(s).", messages.WARNING)

    @admin.action(description="Resume selected halted bots")
    def resume_bots(self, request, queryset):
        if not can_halt_any_bot(request.user):
            self.message_user(request, "You need the risk officer role to resume bots.", messages.ERROR)
            return
        done = 0
        for bot in queryset:
            try:
                bot_resume(bot=bot, actor=request.user, request=request)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{bot.name}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Resumed {done} bot(s).")


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


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdmin):
    """Engaging from here goes through the same service as the emergency stop (so it lives with the bots it
    halts, in trading; risk's own admin holds policies and events).

    Releasing needs re-authentication, so it is done from the risk page or the API, not here.
    """

    list_display = ("key", "engaged", "engaged_by", "engaged_at", "reason", "released_by", "released_at")
    list_filter = ("engaged", "scope")
    search_fields = ("key", "user__username", "reason")
    list_select_related = ("engaged_by", "released_by", "user")
    readonly_fields = ("key", "scope", "user", "engaged", "engaged_by", "engaged_at", "reason", "released_by",
                       "released_at", "updated_at")
    fields = readonly_fields
    actions = ["stop_scope"]

    @admin.action(description="Emergency stop: engage and halt every bot in scope")
    def stop_scope(self, request, queryset):
        for switch in queryset:
            try:
                result = emergency_stop(actor=request.user, scope=switch.scope, user=switch.user, request=request,
                                        reason=f"Emergency stop from admin by {request.user.username}")
            except DomainError as exc:
                self.message_user(request, f"{switch.key}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{switch.key}: engaged; {len(result.bots_halted)} bot(s) halted, "
                                       f"{result.orders_cancelled} order(s) cancelled.", messages.WARNING)
