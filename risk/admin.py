from django.contrib import admin, messages

from accounts.audit import audit_record
from config.admin import ReadOnlyAdmin, decimal_columns_trim
from risk import quotas, services
from risk.models import Quota, RiskEvent, RiskPolicy


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
        audit_record(action="risk_policy.platform_change", actor=request.user, target="risk_policy:platform",
                     request=request, details={k: (None if (v := getattr(obj, k)) is None else str(v))
                                               for k in RiskPolicy.LIMIT_FIELDS})

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.scope == RiskPolicy.PLATFORM:
            return False
        return super().has_delete_permission(request, obj)


decimal_columns_trim(RiskPolicyAdmin, RiskPolicy)


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Per-user quotas: the platform row (no user) for everyone, a user's row to raise or lower one person's.
    Empty fields inherit (user row -> platform row -> the QUOTA_* setting). Takes effect at once."""

    list_display = ("__str__", "bots", "running_bots", "watchlist_symbols", "api_requests_per_minute", "updated_at")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
    list_select_related = ("user",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(action="quota.change", actor=request.user, target=str(obj), request=request,
                     details={n: getattr(obj, n) for n in quotas.NAMES})
        quotas.quotas_forget()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        quotas.quotas_forget()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        quotas.quotas_forget()
