from django.urls import path

from trading.api import promotion_views as views

urlpatterns = [
    path("bots/<int:pk>/promotion/", views.BotPromotionApi.as_view(), name="api-bot-promotion"),
    path("bots/<int:pk>/promotion/confirm/", views.BotPromotionConfirmApi.as_view(), name="api-bot-promotion-confirm"),
    path("bots/<int:pk>/demote/", views.BotDemoteApi.as_view(), name="api-bot-demote"),
    path("promotions/", views.PromotionsApi.as_view(), name="api-promotions"),
    path("promotions/<int:pk>/approve/", views.PromotionApproveApi.as_view(), name="api-promotion-approve"),
    path("promotions/<int:pk>/reject/", views.PromotionRejectApi.as_view(), name="api-promotion-reject"),
]
