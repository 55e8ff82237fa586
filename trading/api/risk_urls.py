from django.urls import path

from trading.api import risk_views as views

urlpatterns = [
    path("system/status/", views.SystemStatusApi.as_view(), name="api-system-status"),
    path("system/emergency-stop/", views.EmergencyStopApi.as_view(), name="api-emergency-stop"),
    path("system/kill-switch/", views.KillSwitchApi.as_view(), name="api-kill-switch"),
    path("risk/policy/", views.UserPolicyApi.as_view(), name="api-risk-policy"),
    path("risk/policy/bots/<int:pk>/", views.BotPolicyApi.as_view(), name="api-risk-policy-bot"),
    path("risk/events/", views.RiskEventsApi.as_view(), name="api-risk-events"),
    path("risk/bots/<int:pk>/halt/", views.BotHaltApi.as_view(), name="api-risk-bot-halt"),
    path("risk/bots/<int:pk>/resume/", views.BotResumeApi.as_view(), name="api-risk-bot-resume"),
]
