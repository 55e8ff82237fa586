from django.urls import path

from accounts.api import health, views

urlpatterns = [
    path("auth/register/", views.RegisterApi.as_view(), name="api-register"),
    path("auth/login/", views.LoginApi.as_view(), name="api-login"),
    path("auth/login/totp/", views.LoginTotpApi.as_view(), name="api-login-totp"),
    path("auth/refresh/", views.RefreshApi.as_view(), name="api-refresh"),
    path("auth/logout/", views.LogoutApi.as_view(), name="api-logout"),
    path("auth/password/", views.PasswordChangeApi.as_view(), name="api-password-change"),
    path("auth/password-reset/", views.PasswordResetApi.as_view(), name="api-password-reset"),
    path("auth/password-reset/confirm/", views.PasswordResetConfirmApi.as_view(), name="api-password-reset-confirm"),
    path("auth/ws-ticket/", views.WsTicketApi.as_view(), name="api-ws-ticket"),
    path("auth/me/", views.MeApi.as_view(), name="api-me"),
    path("auth/totp/", views.TotpApi.as_view(), name="api-totp"),
    path("auth/totp/confirm/", views.TotpConfirmApi.as_view(), name="api-totp-confirm"),
    path("health/ping/", health.PingApi.as_view(), name="api-ping"),
]
