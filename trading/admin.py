from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from config.admin import ReadOnlyAdmin, decimal_columns_trim
from config.api import DomainError
from risk.models import KillSwitch
from risk.services import can_halt_any_bot
from trading.execution.safety import bot_halt, bot_resume, emergency_stop
from trading.models import Bot, Candle, Fill, Market, Order, TickRun, WatchlistItem
from trading.promotion.demotion import promotion_demote
from trading.promotion.models import PromotionPolicy, PromotionRequest
from trading.promotion.selectors import promotion_policy
from trading.promotion.services import (
    PromotionConflict,
    can_approve_promotions,
    promotion_approve,
    promotion_policy_save,
    promotion_reject,
)
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


# --- the promotion workflow (trading/promotion) ---------------------------------------------------

@admin.register(PromotionPolicy)
class PromotionPolicyAdmin(admin.ModelAdmin):
    """The one platform row; saving goes through the audited service."""

    list_display = ("__str__", "min_paper_days", "min_closed_trades", "min_win_rate_pct", "min_profit_pct",
                    "require_staff_approval", "request_ttl_hours", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")

    def has_add_permission(self, request):
        return False  # the row is created from the PROMOTION_* settings on first use

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        promotion_policy()  # the row exists before anyone looks for it
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        promotion_policy_save(policy=obj, actor=request.user, request=request)


class PromotionActionForm(ActionForm):
    note = forms.CharField(required=False, max_length=500, label="Note (sent to the owner)",
                           widget=forms.TextInput(attrs={"size": 40}))


class PendingFirst(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Waiting for approval"), ("open", "Open (pending or live)"), ("live", "Live")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "pending":
            return queryset.filter(status=PromotionRequest.Status.PENDING_APPROVAL)
        if value == "open":
            return queryset.filter(status__in=PromotionRequest.OPEN_STATUSES)
        if value == "live":
            return queryset.filter(status=PromotionRequest.Status.APPROVED)
        return queryset


@admin.register(PromotionRequest)
class PromotionRequestAdmin(admin.ModelAdmin):
    """Read-only rows; approve / reject / revoke are actions that call the services (with a note)."""

    list_display = ("id", "bot", "owner", "status", "allocation", "quote_currency", "created_at", "expires_at",
                    "confirmed_at", "decided_by", "note")
    list_filter = (PendingFirst, "status", "require_approval")
    search_fields = ("bot__name", "bot__owner__username", "requested_by__username")
    list_select_related = ("bot__owner", "decided_by", "requested_by")
    readonly_fields = [f.name for f in PromotionRequest._meta.fields]
    action_form = PromotionActionForm
    actions = ["approve_requests", "reject_requests", "revoke_live"]

    @admin.display(description="Owner")
    def owner(self, obj):
        return obj.bot.owner

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        return can_approve_promotions(request.user)

    def _each(self, request, queryset, call, done: str):
        ok, refused = 0, []
        for promotion in queryset.select_related("bot__owner"):
            try:
                call(promotion)
                ok += 1
            except DomainError as exc:
                refused.append(f"#{promotion.pk}: {exc.message}")
        if ok:
            self.message_user(request, f"{done} {ok} request(s).")
        for line in refused:
            self.message_user(request, line, level="error")

    @admin.action(description="Approve the selected requests (the bots go live)", permissions=["decide"])
    def approve_requests(self, request, queryset):
        note = request.POST.get("note", "")[:500]
        self._each(request, queryset, lambda p: promotion_approve(promotion=p, actor=request.user, note=note,
                                                                  request=request), "Approved")

    @admin.action(description="Reject the selected requests", permissions=["decide"])
    def reject_requests(self, request, queryset):
        note = request.POST.get("note", "")[:500]
        self._each(request, queryset, lambda p: promotion_reject(promotion=p, actor=request.user, note=note,
                                                                 request=request), "Rejected")

    @admin.action(description="Revoke: take the selected live bots back to paper", permissions=["decide"])
    def revoke_live(self, request, queryset):
        note = request.POST.get("note", "")[:150]

        def revoke(promotion):
            if promotion.status != PromotionRequest.Status.APPROVED:
                raise PromotionConflict("not live")
            promotion_demote(bot=promotion.bot, actor=request.user, request=request,
                             reason=f"revoked by staff{': ' + note if note else ''}")

        self._each(request, queryset, revoke, "Revoked")



# --- numbers in list columns: numeric(38, 18) without its padding (3000.000000000000000000 -> 3000) -----------

for _admin_class, _model in ((MarketAdmin, Market), (CandleAdmin, Candle), (BotAdmin, Bot), (OrderAdmin, Order),
                             (FillAdmin, Fill), (PromotionPolicyAdmin, PromotionPolicy),
                             (PromotionRequestAdmin, PromotionRequest)):
    decimal_columns_trim(_admin_class, _model)
