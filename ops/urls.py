from django.urls import path

from ops.views import metrics

urlpatterns = [path("metrics", metrics, name="metrics")]
