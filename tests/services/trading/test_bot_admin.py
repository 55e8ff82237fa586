"""Staff see bots, orders, fills and the tick log in admin, read-only; the actions call the services."""

from decimal import Decimal

import pytest
from django.test import Client

from trading.models import Bot, Order
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user):
    boss = make_user("boss", staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    return client


def test_admin_lists_and_shows_bots_orders_fills_and_ticks(admin_client, alice):
    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={}, starting_balance=Decimal("1000"))
    Order.objects.create(bot=bot, client_id="1:0", side="buy", type="market", amount=1, status="rejected",
                         reason="insufficient_funds: test")
    for url in ["/admin/trading/bot/", f"/admin/trading/bot/{bot.pk}/change/", "/admin/trading/order/",
                "/admin/trading/fill/", "/admin/trading/tickrun/"]:
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/trading/bot/add/").status_code == 403  # bots are made by their owners


def test_the_stop_action_stops_through_the_service(admin_client, alice):
    bot = bot_start(bot=bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT",
                                   strategy="sma_cross", params={}, starting_balance=Decimal("1000")), actor=alice)
    r = admin_client.post("/admin/trading/bot/", {"action": "stop_bots", "_selected_action": [bot.pk]})
    assert r.status_code == 302
    assert Bot.objects.get(pk=bot.pk).status == "stopped"
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="bot.stop", target=f"bot:{bot.pk}", actor__username="boss").exists()


def test_admin_list_columns_show_numbers_without_18_decimal_padding(admin_client, alice):
    from django.utils import timezone

    from trading.models import Fill, Market

    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT",
                          price_step=Decimal("0.01"), min_cost=Decimal("5"))
    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={}, starting_balance=Decimal("3000"))
    order = Order.objects.create(bot=bot, client_id="1:0", side="buy", type="market", amount=Decimal("0.0125"),
                                 status="filled", filled=Decimal("0.0125"))
    Fill.objects.create(bot=bot, order=order, side="buy", price=Decimal("65000.5"), amount=Decimal("0.0125"),
                        fee=Decimal("0.8125"), fee_currency="USDT", liquidity="taker", ts=timezone.now())
    for url, shown in [("/admin/trading/bot/", ">3000<"), ("/admin/trading/order/", ">0.0125<"),
                       ("/admin/trading/fill/", ">65000.5<"), ("/admin/trading/market/", ">0.01<")]:
        html = admin_client.get(url).content.decode()
        assert ".000000000000" not in html and "0E-18" not in html, url
        assert shown in html, (url, shown)
    assert admin_client.get("/admin/trading/fill/?o=4").status_code == 200  # the column still sorts
