from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import AuditEvent, User
from accounts.passwords import user_password_changed
from accounts.services import user_deactivate
from config.admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "totp_enabled", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "totp_enabled", "groups")
    search_fields = ("username", "email")
    ordering = ("-date_joined",)
    actions = ["deactivate_users"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("Security", {"fields": ("totp_enabled",)}))
    readonly_fields = ("totp_enabled", "last_login", "date_joined")

    @admin.action(description="Deactivate selected users (ends their sessions and tokens)")
    def deactivate_users(self, request, queryset):
        count = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot deactivate yourself.", messages.WARNING)
                continue
            user_deactivate(user=user, actor=request.user, request=request)
            count += 1
        self.message_user(request, f"Deactivated {count} user(s); their sessions and tokens no longer work.")

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the new password was saved
            user = User.objects.get(pk=id)
            keep = request.session.session_key if user.pk == request.user.pk else None
            user_password_changed(user=user, request=request, via="admin", keep_session_key=keep)
        return response

    def save_model(self, request, obj, form, change):
        was_active = change and User.objects.filter(pk=obj.pk, is_active=True).exists()
        super().save_model(request, obj, form, change)
        if was_active and not obj.is_active:
            user_deactivate(user=obj, actor=request.user, request=request)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "target", "ip")
    list_filter = ("action",)
    search_fields = ("action", "target", "actor__username", "ip")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
