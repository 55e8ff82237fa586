from django.urls import include, path

from trading.api import backtest_views, chart_views, manual_views, views

urlpatterns = [
    path("prices/live/", views.LivePricesApi.as_view(), name="api-prices-live"),
    path("prices/candles/", views.CandlesApi.as_view(), name="api-prices-candles"),
    path("markets/", views.MarketsApi.as_view(), name="api-markets"),
    path("watchlist/", views.WatchlistApi.as_view(), name="api-watchlist"),
    path("watchlist/<int:pk>/", views.WatchlistItemApi.as_view(), name="api-watchlist-item"),
    path("strategies/", views.StrategiesApi.as_view(), name="api-strategies"),
    path("profit/", views.ProfitSummaryApi.as_view(), name="api-profit"),
    path("profit/calendar/", views.ProfitCalendarApi.as_view(), name="api-profit-calendar"),
    path("bots/", views.BotsApi.as_view(), name="api-bots"),
    path("bots/<int:pk>/", views.BotApi.as_view(), name="api-bot"),
    path("bots/<int:pk>/start/", views.BotStartApi.as_view(), name="api-bot-start"),
    path("bots/<int:pk>/stop/", views.BotStopApi.as_view(), name="api-bot-stop"),
    path("bots/<int:pk>/pause/", views.BotPauseApi.as_view(), name="api-bot-pause"),
    path("bots/<int:pk>/orders/", views.BotOrdersApi.as_view(), name="api-bot-orders"),
    path("bots/<int:pk>/orders/<int:order_id>/cancel/", views.BotOrderCancelApi.as_view(),
         name="api-bot-order-cancel"),
    path("bots/<int:pk>/trades/", views.BotTradesApi.as_view(), name="api-bot-trades"),
    path("bots/<int:pk>/trades.csv", views.BotTradesCsvApi.as_view(), name="api-bot-trades-csv"),
    path("bots/<int:pk>/deals/", views.BotDealsApi.as_view(), name="api-bot-deals"),
    path("bots/<int:pk>/performance/", views.BotPerformanceApi.as_view(), name="api-bot-performance"),
    path("bots/<int:pk>/chart/", chart_views.BotChartApi.as_view(), name="api-bot-chart"),
    path("bots/<int:pk>/backtest/", backtest_views.BotBacktestApi.as_view(), name="api-bot-backtest"),
    path("bots/<int:pk>/backtest/progress/", backtest_views.BotBacktestProgressApi.as_view(),
         name="api-bot-backtest-progress"),
    # manual control (trading/api/manual_views.py)
    path("bots/<int:pk>/close-position/", manual_views.BotClosePositionApi.as_view(), name="api-bot-close-position"),
    path("bots/<int:pk>/cancel-orders/", manual_views.BotCancelOrdersApi.as_view(), name="api-bot-cancel-orders"),
    path("bots/resume-all/", manual_views.BotsResumeAllApi.as_view(), name="api-bots-resume-all"),
]

# the promotion workflow's routes (trading/api/promotion_urls.py)
urlpatterns += [path("", include("trading.api.promotion_urls"))]
