"""WebSocket routes."""

from django.urls import path

from trading.consumers import EventConsumer, PriceConsumer

websocket_urlpatterns = [
    path("ws/prices/", PriceConsumer.as_asgi()),
    path("ws/events/", EventConsumer.as_asgi()),
]
