from django.urls import path

from notifications.api import views

urlpatterns = [
    path("notifications/", views.OutboxListApi.as_view(), name="api-notifications"),
    path("notifications/channels/", views.ChannelListCreateApi.as_view(), name="api-notification-channels"),
    path("notifications/channels/<int:pk>/", views.ChannelDetailApi.as_view(), name="api-notification-channel"),
    path("notifications/channels/<int:pk>/test/", views.ChannelTestApi.as_view(),
         name="api-notification-channel-test"),
]
