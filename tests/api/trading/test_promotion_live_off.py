"""With ENABLE_LIVE_TRADING off, no sequence of calls makes a bot live or sends a private request to the
exchange: promotion endpoints, replayed confirms, staff approval by API and admin, direct mode changes.
Asserted on the Binance emulator's own request log."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.models import PromotionRequest

pytestmark = pytest.mark.django_db
PRIVATE = ("/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades", "/api/v3/allOrders")


def private_hits(emulator) -> list[str]:
    return [f"{h.method} {h.path}" for h in emulator.requests if h.path.startswith(PRIVATE)]


def test_no_call_makes_a_bot_live_while_live_trading_is_off(api, alice, bob, make_user, make_eligible_bot, approver,
                                                           settings, use_binance_emulator):
    settings.ENABLE_LIVE_TRADING = True
    bot = make_eligible_bot(alice)
    other = make_eligible_bot(bob, name="second")
    owner = api(alice)
    assert owner.post(f"/api/bots/{bot.pk}/promotion/", {"allocation": "500"}, format="json").status_code == 201
    assert api(bob).post(f"/api/bots/{other.pk}/promotion/", {"allocation": "500"}, format="json").status_code == 201
    confirmed = owner.post(f"/api/bots/{bot.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"}, format="json")
    assert confirmed.status_code == 200
    before = private_hits(use_binance_emulator)  # key tests and the two balance checks
    assert before and not any("/api/v3/order" in h for h in before)

    settings.ENABLE_LIVE_TRADING = False
    pk = confirmed.json()["id"]
    answers = {
        "request another": api(bob).post(f"/api/bots/{other.pk}/promotion/", {"allocation": "500"}, format="json"),
        "confirm bob's": api(bob).post(f"/api/bots/{other.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"},
                                       format="json"),
        "replayed confirm": owner.post(f"/api/bots/{bot.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"},
                                       format="json"),
        "staff approve": api(approver).post(f"/api/promotions/{pk}/approve/", {}, format="json"),
        "owner approve": owner.post(f"/api/promotions/{pk}/approve/", {}, format="json"),
        "patch mode": owner.patch(f"/api/bots/{bot.pk}/", {"mode": "live"}, format="json"),
        "put mode": owner.put(f"/api/bots/{bot.pk}/", {"mode": "live"}, format="json"),
        "create live": owner.post("/api/bots/", {"name": "x", "exchange": "binance", "symbol": "BTC/USDT",
                                                 "strategy": "dca", "starting_balance": "100", "mode": "live"},
                                  format="json"),
    }
    assert answers["request another"].status_code == 403
    assert answers["request another"].json()["error"]["code"] in ("live_disabled", "promotion_conflict")
    assert answers["confirm bob's"].json()["error"]["code"] == "live_disabled"
    assert answers["replayed confirm"].status_code == 409
    assert answers["staff approve"].json()["error"]["code"] == "live_disabled"
    assert answers["owner approve"].status_code == 403
    assert answers["create live"].json()["error"]["code"] == "live_not_available"

    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    root = make_user("root", staff=True)
    type(root).objects.filter(pk=root.pk).update(is_superuser=True)
    admin_answers = {}
    for user in (officer, root, alice):  # staff with the right, a superuser, and the owner (no admin access)
        client = Client()
        client.force_login(type(user).objects.get(pk=user.pk))
        admin_answers[user.username] = [
            client.post("/admin/trading/promotionrequest/", {"action": "approve_requests", "_selected_action": [pk],
                                                             "note": "ok"}, follow=True),
            client.post(f"/admin/trading/bot/{bot.pk}/change/", {"mode": "live", "status": "running"}, follow=True),
            client.post("/admin/trading/bot/", {"action": "resume_bots", "_selected_action": [bot.pk]}, follow=True),
        ]
    for name in ("olivia", "root"):  # staff are told why, in the admin; nothing fails
        approve, change, resume = admin_answers[name]
        assert approve.status_code == 200 and "ENABLE_LIVE_TRADING=false" in approve.content.decode()
        assert change.status_code in (200, 403) and resume.status_code == 200
    assert all(r.redirect_chain and "/admin/login/" in r.redirect_chain[-1][0] for r in admin_answers["alice"])
    assert not Bot.objects.filter(mode="live").exists()
    assert PromotionRequest.objects.get(pk=pk).status == "pending_approval"
    assert private_hits(use_binance_emulator) == before  # nothing private reached the exchange since
