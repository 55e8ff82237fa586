"""WebSocket routes."""

from django.urls import path

from trading.consumers import PriceConsumer

websocket_urlpatterns = [
    path("ws/prices/", PriceConsumer.as_asgi()),
]
