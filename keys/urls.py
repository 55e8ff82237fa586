from django.urls import path

from keys import views

urlpatterns = [
    path("keys/", views.key_list, name="keys"),
    path("keys/<int:pk>/test/", views.key_test_view, name="key-test"),
    path("keys/<int:pk>/relabel/", views.key_relabel_view, name="key-relabel"),
    path("keys/<int:pk>/delete/", views.key_delete_view, name="key-delete"),
    path("keys/revoke-all/", views.keys_revoke_all_view, name="keys-revoke-all"),
]
