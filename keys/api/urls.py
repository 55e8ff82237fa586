from django.urls import path

from keys.api import views

urlpatterns = [
    path("keys/", views.KeyListCreateApi.as_view(), name="api-keys"),
    path("keys/revoke-all/", views.KeysRevokeAllApi.as_view(), name="api-keys-revoke-all"),
    path("keys/<int:pk>/", views.KeyDetailApi.as_view(), name="api-key"),
    path("keys/<int:pk>/test/", views.KeyTestApi.as_view(), name="api-key-test"),
]
