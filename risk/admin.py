from django.contrib import admin, messages

from config.admin import ReadOnlyAdmin
from risk import services
from risk.models import KillSwitch, RiskEvent, RiskPolicy


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    """Read-only: risk events are evidence."""

    list_display = ("created_at", "severity", "code", "user", "bot", "message")
    list_filter = ("severity", "code")
    search_fields = ("user__username", "bot__name", "message", "code")
    list_select_related = ("user", "bot")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "severity", "code", "user", "bot", "message", "details")
    fields = readonly_fields


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdmin):
    """Engaging from here goes through the same service as the emergency stop.

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
                result = services.emergency_stop(actor=request.user, scope=switch.scope, user=switch.user,
                                                 request=request,
                                                 reason=f"Emergency stop from admin by {request.user.username}")
            except services.DomainError as exc:
                self.message_user(request, f"{switch.key}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{switch.key}: engaged; {len(result.bots_halted)} bot(s) halted, "
                                       f"{result.orders_cancelled} order(s) cancelled.", messages.WARNING)


@admin.register(RiskPolicy)
class RiskPolicyAdmin(admin.ModelAdmin):
    """The platform row sets the defaults and bounds; user/bot rows only tighten them."""

    list_display = ("__str__", "scope", "user", "bot", *RiskPolicy.LIMIT_FIELDS, "updated_at")
    list_filter = ("scope",)
    search_fields = ("user__username", "bot__name")
    list_select_related = ("user", "bot")
    raw_id_fields = ("user", "bot")
    readonly_fields = ("updated_at", "updated_by")

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        if obj.scope != RiskPolicy.PLATFORM:
            # an override saved by staff is still held to the platform bounds
            values = {name: getattr(obj, name) for name in RiskPolicy.LIMIT_FIELDS}
            try:
                services.policy_tighten(actor=request.user, user=obj.user or obj.bot.owner,
                                        bot=obj.bot if obj.scope == RiskPolicy.BOT else None, values=values,
                                        request=request)
            except services.PolicyLoosened as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return
        super().save_model(request, obj, form, change)
        from accounts.audit import audit_record

        audit_record(action="risk_policy.platform_change", actor=request.user, target="risk_policy:platform",
                     request=request, details={k: (None if (v := getattr(obj, k)) is None else str(v))
                                               for k in RiskPolicy.LIMIT_FIELDS})

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.scope == RiskPolicy.PLATFORM:
            return False
        return super().has_delete_permission(request, obj)


# --- staff actions on bots: halt / resume through the risk services ---------------------------------

@admin.action(description="Halt selected bots (cancels their open orders)")
def halt_bots(modeladmin, request, queryset):
    if not services.can_halt_any_bot(request.user):
        modeladmin.message_user(request, "You need the risk officer role to halt bots.", messages.ERROR)
        return
    count = 0
    for bot in queryset:
        services.bot_halt(bot=bot, actor=request.user, reason=f"halted by staff ({request.user.username})",
                          request=request)
        count += 1
    modeladmin.message_user(request, f"Halted {count} bot(s).", messages.WARNING)


@admin.action(description="Resume selected halted bots")
def resume_bots(modeladmin, request, queryset):
    if not services.can_halt_any_bot(request.user):
        modeladmin.message_user(request, "You need the risk officer role to resume bots.", messages.ERROR)
        return
    done = 0
    for bot in queryset:
        try:
            services.bot_resume(bot=bot, actor=request.user, request=request)
            done += 1
        except services.DomainError as exc:
            modeladmin.message_user(request, f"{bot.name}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"Resumed {done} bot(s).")


def _add_bot_actions() -> None:
    """The Bot admin belongs to the trading app; risk adds its two actions to it."""
    from trading.models import Bot

    bot_admin = admin.site._registry.get(Bot)
    if bot_admin is None:
        return
    cls = type(bot_admin)
    cls.actions = [*(a for a in (cls.actions or []) if a not in (halt_bots, resume_bots)), halt_bots, resume_bots]


_add_bot_actions()
