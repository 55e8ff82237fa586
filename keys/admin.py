from django.contrib import admin

from keys.models import ExchangeKey
from keys.services import key_disable


@admin.register(ExchangeKey)
class ExchangeKeyAdmin(admin.ModelAdmin):
    """Staff see keys masked and can disable them; the encrypted columns are never shown."""

    list_display = ("owner", "exchange", "label", "masked", "sandbox", "is_active", "created_at", "last_test_ok")
    list_filter = ("exchange", "is_active", "sandbox")
    search_fields = ("owner__username", "label", "exchange")
    list_select_related = ("owner",)
    fields = ("owner", "exchange", "label", "masked", "sandbox", "is_active", "disabled_reason", "created_at",
              "last_tested_at", "last_test_ok", "last_test_code", "last_test_message")
    readonly_fields = fields
    actions = ["disable_keys"]

    @admin.display(description="API key")
    def masked(self, key):
        return f"••••{key.api_key_hint}"

    @admin.action(description="Disable selected keys")
    def disable_keys(self, request, queryset):
        for key in queryset:
            key_disable(key=key, actor=request.user, request=request)
        self.message_user(request, f"Disabled {queryset.count()} key(s).")

    def has_add_permission(self, request):
        return False  # keys are added by their owners; staff never handle secrets

    def has_change_permission(self, request, obj=None):
        return False
