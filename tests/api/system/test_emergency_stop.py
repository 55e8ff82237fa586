"""POST /api/system/emergency-stop/: engage, halt, cancel, (flatten | reduce-only); scopes and who may use them."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from accounts.models import AuditEvent
from risk.models import KillSwitch, RiskEvent
from tests.risk.conftest import create_bot, put_ticker
from trading.models import Bot, Order

pytestmark = pytest.mark.django_db
URL = "/api/system/emergency-stop/"


def open_order(bot, n=1, side="buy"):
    return Order.objects.create(bot=bot, client_id=f"t:{bot.pk}:{n}", side=side, type="limit", amount=Decimal("0.01"),
                                price=Decimal("19000"), status="open")


@pytest.fixture
def make_bot(db):
    return create_bot


@pytest.fixture
def officer(make_user):
    user = make_user("olivia", staff=True)
    user.groups.add(Group.objects.get(name="risk officer"))
    return user


def test_user_stop_halts_my_bots_cancels_orders_and_leaves_others_alone(api, alice, bob, make_bot):
    mine = [make_bot(alice, name="a1"), make_bot(alice, name="a2", status="paused"),
            make_bot(alice, name="a3", status="stopped")]
    Bot.objects.filter(pk=mine[0].pk).update(quote_reserved=Decimal("190"))
    order = open_order(mine[0])
    theirs = make_bot(bob, name="b1")
    their_order = open_order(theirs)

    r = api(alice).post(URL, {"scope": "user"}, format="json")

    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["kill_switch"]["engaged"] is True and body["scope"] == "user"
    assert sorted(body["bots_halted"]) == sorted([mine[0].pk, mine[1].pk])
    assert body["orders_cancelled"] == 1
    statuses = dict(Bot.objects.values_list("name", "status"))
    assert statuses == {"a1": "halted", "a2": "halted", "a3": "stopped", "b1": "running"}
    assert "Emergency stop" in Bot.objects.get(pk=mine[0].pk).halt_reason
    order.refresh_from_db()
    their_order.refresh_from_db()
    assert order.status == "cancelled" and their_order.status == "open"
    assert Bot.objects.get(pk=mine[0].pk).quote_reserved == 0  # the cancelled order's funds are free again
    assert KillSwitch.objects.get(key=f"user:{alice.pk}").engaged
    assert not KillSwitch.objects.filter(key=f"user:{bob.pk}", engaged=True).exists()
    assert RiskEvent.objects.filter(user=alice, code="emergency_stop").exists()
    assert AuditEvent.objects.filter(actor=alice, action="emergency_stop").exists()


def test_halted_bots_stay_halted_and_can_be_resumed_only_after_release(api, alice, make_bot):
    bot = make_bot(alice)
    api(alice).post(URL, {}, format="json")
    r = api(alice).post(f"/api/risk/bots/{bot.pk}/resume/")
    assert r.status_code == 409 and r.json()["error"]["code"] == "kill_switch_engaged"
    r = api(alice).delete("/api/system/kill-switch/", {"password": "correct horse battery staple 42"}, format="json")
    assert r.status_code == 200, r.json()
    assert Bot.objects.get(pk=bot.pk).status == "halted"  # releasing the switch does not restart bots
    r = api(alice).post(f"/api/risk/bots/{bot.pk}/resume/")
    assert r.status_code == 200 and r.json()["status"] == "running"


def test_halt_and_flatten_sells_the_position_at_market(api, alice, make_bot):
    bot = make_bot(alice, quote="500", base="0.02", fill_overrides={"reject_rate": "0"})  # no simulated rejection
    put_ticker("binance", "BTC/USDT", "25000")
    r = api(alice).post(URL, {"scope": "user", "flatten": True}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["positions_flattened"] == 1
    bot.refresh_from_db()
    assert bot.status == "halted" and bot.base == 0
    assert bot.quote > Decimal("500") + Decimal("0.02") * 25000 * Decimal("0.99")
    sell = Order.objects.get(bot=bot, side="sell")
    assert sell.status == "filled" and sell.type == "market"


def test_flatten_without_a_fresh_price_says_the_position_is_still_open(api, alice, make_bot):
    bot = make_bot(alice, quote="500", base="0.02")  # no ticker stored: nothing to sell at
    r = api(alice).post(URL, {"flatten": True}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["positions_flattened"] == 0 and "price" in body["flatten_failed"][str(bot.pk)].lower()
    bot.refresh_from_db()
    assert bot.status == "halted" and bot.base == Decimal("0.02")


def test_reduce_only_keeps_bots_running_but_refuses_entries(api, alice, make_bot):
    bot = make_bot(alice)
    r = api(alice).post(URL, {"reduce_only": True}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["bots_reduce_only"] == [bot.pk] and r.json()["bots_halted"] == []
    bot.refresh_from_db()
    assert bot.status == "running" and bot.reduce_only


def test_flatten_and_reduce_only_together_is_a_400(api, alice):
    r = api(alice).post(URL, {"flatten": True, "reduce_only": True}, format="json")
    assert r.status_code == 400 and "not both" in r.json()["error"]["message"]


def test_bad_scope_is_a_400(api, alice):
    r = api(alice).post(URL, {"scope": "everyone"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"]["scope"]


def test_anonymous_cannot_stop(anon):
    assert anon.post(URL, {}, format="json").status_code == 401


def test_a_trader_cannot_engage_the_global_switch(api, alice, bob, make_bot):
    bobs = make_bot(bob)
    r = api(alice).post(URL, {"scope": "global"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert not KillSwitch.objects.filter(engaged=True).exists()
    assert Bot.objects.get(pk=bobs.pk).status == "running"


def test_support_staff_cannot_engage_the_global_switch(api, make_user):
    support = make_user("sam", staff=True)
    support.groups.add(Group.objects.get(name="support"))
    assert api(support).post(URL, {"scope": "global"}, format="json").status_code == 403


def test_a_risk_officer_stops_everyone(api, officer, alice, bob, make_bot):
    bots = [make_bot(alice), make_bot(bob)]
    r = api(officer).post(URL, {"scope": "global"}, format="json")
    assert r.status_code == 200, r.json()
    assert sorted(r.json()["bots_halted"]) == sorted(b.pk for b in bots)
    assert KillSwitch.objects.get(key="global").engaged_by == officer
    assert set(Bot.objects.values_list("status", flat=True)) == {"halted"}


def test_a_superuser_may_stop_everyone(api, make_user, alice, make_bot):
    root = make_user("root", staff=True, is_superuser=True)
    make_bot(alice)
    assert api(root).post(URL, {"scope": "global"}, format="json").status_code == 200


def test_system_status_shows_flags_switches_and_feeds(api, alice, settings):
    settings.ENABLE_LIVE_TRADING = False
    put_ticker("binance", "BTC/USDT", "25000")
    api(alice).post(URL, {}, format="json")
    body = api(alice).get("/api/system/status/").json()
    assert body["features"] == {"trading": settings.ENABLE_TRADING, "live_trading": False,
                                "schedulers": settings.ENABLE_SCHEDULERS}
    assert body["kill_switch"]["user"]["engaged"] is True and body["kill_switch"]["global"]["engaged"] is False
    binance = next(e for e in body["feeds"]["exchanges"] if e["exchange"] == "binance")
    assert binance["symbols"] >= 1
    assert "BTC/USDT" not in binance["stale_reasons"]  # fresh
    assert "ETH/USDT" in binance["stale_reasons"]  # in the default watchlist, never polled here
    assert body["feeds"]["healthy"] is False


def test_pressing_it_twice_is_harmless(api, alice, make_bot):
    bot = make_bot(alice)
    first = api(alice).post(URL, {}, format="json").json()
    second = api(alice).post(URL, {}, format="json")
    assert second.status_code == 200
    assert first["bots_halted"] == [bot.pk] and second.json()["bots_halted"] == []
    assert second.json()["kill_switch"]["engaged"] is True
