from django.contrib import admin

from config.admin import ReadOnlyAdmin
from notifications.models import Channel, DeliveryAttempt, Outbox
from notifications.services import channel_disable


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    """Staff see channels masked and can disable them; encrypted columns are never shown."""

    list_display = ("owner", "name", "kind", "target_hint", "min_severity", "is_active", "created_at", "last_test_ok")
    list_filter = ("kind", "is_active", "min_severity")
    search_fields = ("owner__username", "name")
    list_select_related = ("owner",)
    fields = ("owner", "name", "kind", "target_hint", "events", "min_severity", "rate_limit_per_minute",
              "is_active", "disabled_reason", "created_at", "last_tested_at", "last_test_ok", "last_test_message")
    readonly_fields = fields
    actions = ["disable_channels"]

    @admin.action(description="Disable selected channels")
    def disable_channels(self, request, queryset):
        for channel in queryset:
            channel_disable(channel=channel, reason="Disabled by staff", actor=request.user, request=request)
        self.message_user(request, f"Disabled {queryset.count()} channel(s).")

    def has_add_permission(self, request):
        return False  # channels are added by their owners; staff never handle their secrets

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("at", "outcome", "reason", "http_status", "errcode", "messages", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "channel", "event", "severity", "title", "state", "attempts",
                    "next_attempt_at")
    list_filter = ("state", "event", "severity")
    search_fields = ("title", "user__username", "channel__name", "dedupe_key")
    list_select_related = ("user", "channel")
    inlines = [AttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "channel", "outbox", "outcome", "reason", "http_status", "errcode", "messages")
    list_filter = ("outcome",)
    list_select_related = ("channel", "outbox")
