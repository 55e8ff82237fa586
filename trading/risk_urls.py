from django.urls import path

from trading import risk_views as views

urlpatterns = [
    path("risk/", views.panel, name="risk"),
    path("risk/stop/", views.stop, name="risk-stop"),
    path("risk/release/", views.release, name="risk-release"),
    path("risk/limits/", views.limits, name="risk-limits"),
    path("risk/bots/<int:pk>/resume/", views.resume, name="risk-bot-resume"),
]
