from django.urls import path

from trading import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
