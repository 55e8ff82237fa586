from django.urls import path

from trading import manual_pages, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("bots/", views.bot_list, name="bot-list"),
    path("profit/", views.profit, name="profit"),
    path("bots/new/", views.bot_form, name="bot-new"),
    path("bots/<int:pk>/", views.bot_detail, name="bot-detail"),
    path("bots/<int:pk>/edit/", views.bot_form, name="bot-edit"),
    path("bots/<int:pk>/start/", views.bot_action, {"action": "start"}, name="bot-start"),
    path("bots/<int:pk>/stop/", views.bot_action, {"action": "stop"}, name="bot-stop"),
    path("bots/<int:pk>/pause/", views.bot_action, {"action": "pause"}, name="bot-pause"),
    path("bots/<int:pk>/delete/", views.bot_delete, name="bot-delete"),
    path("bots/<int:pk>/orders/<int:order_id>/cancel/", views.bot_order_cancel, name="bot-order-cancel"),
    path("bots/<int:pk>/close-position/", manual_pages.close_position, name="bot-close-position"),
    path("bots/<int:pk>/cancel-orders/", manual_pages.cancel_orders, name="bot-cancel-orders"),
    path("bots/resume-all/", manual_pages.resume_all, name="bots-resume-all"),
]
