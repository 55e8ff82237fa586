from django.urls import path

from trading.api import views

urlpatterns = [
    path("prices/live/", views.LivePricesApi.as_view(), name="api-prices-live"),
    path("prices/candles/", views.CandlesApi.as_view(), name="api-prices-candles"),
    path("watchlist/", views.WatchlistApi.as_view(), name="api-watchlist"),
    path("watchlist/<int:pk>/", views.WatchlistItemApi.as_view(), name="api-watchlist-item"),
]
