from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

admin.site.site_header = "Trading platform administration"
admin.site.site_title = "Trading platform admin"

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("keys.api.urls")),
    path("", include("trading.api.urls")),
    path("", include("trading.api.risk_urls")),
    path("", include("notifications.api.urls")),
    path("", include("ops.api_urls")),  # health/: it reads every layer, so it lives in ops
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view serves Swagger UI's start-up script as a file: the CSP allows no inline script
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("accounts.urls")),
    path("", include("trading.risk_urls")),
    path("", include("notifications.urls")),
    path("", include("ops.urls")),
]

handler400 = "config.errors.bad_request"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
