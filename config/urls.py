from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

admin.site.site_header = "Trading platform administration"
admin.site.site_title = "Trading platform admin"

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("keys.api.urls")),
    path("", include("trading.api.urls")),
    path("", include("trading.api.risk_urls")),
    path("", include("notifications.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("accounts.urls")),
    path("", include("trading.risk_urls")),
    path("", include("notifications.urls")),
    path("", include("ops.urls")),
]
