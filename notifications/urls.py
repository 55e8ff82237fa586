from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.notifications_page, name="notifications"),
    path("notifications/channels/<int:pk>/test/", views.channel_test_view, name="notification-channel-test"),
    path("notifications/channels/<int:pk>/toggle/", views.channel_toggle_view, name="notification-channel-toggle"),
    path("notifications/channels/<int:pk>/delete/", views.channel_delete_view, name="notification-channel-delete"),
]
