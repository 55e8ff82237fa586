"""Per-user quotas: bots (50 by default), running bots, watchlist symbols -> 409 quota_exceeded naming the
limit and the value; API requests per user per minute -> 429 with Retry-After. Staff raise a limit in
admin (the platform row, or one user's row) and the next request is allowed."""

from decimal import Decimal

import pytest
from django.test import Client

from risk.models import Quota
from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.services.bots import bot_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]
BOT = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
       "params": {"fast": 5, "slow": 20}, "starting_balance": "1000"}


def _bots(owner, n: int) -> list[Bot]:
    return [bot_create(owner=owner, name=f"b{i}", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                       params={"fast": 5, "slow": 20}, starting_balance=Decimal("1000")) for i in range(n)]


@pytest.fixture
def staff_client(charlie):
    charlie.is_superuser = True
    charlie.save()
    c = Client()
    c.force_login(charlie)
    return c


def _refused(r, quota: str, limit: int, value: int):
    assert r.status_code == 409, r.content
    err = r.json()["error"]
    assert err["code"] == "quota_exceeded"
    assert f"at most {limit}" in err["message"] and f"you have {value}" in err["message"]
    assert err["fields"] == {"quota": [quota], "limit": [str(limit)], "value": [str(value)]}


def test_the_51st_bot_is_refused_naming_the_limit(api, alice, bob):
    _bots(alice, 50)
    r = api(alice).post("/api/bots/", BOT, format="json")
    _refused(r, "bots", 50, 50)
    assert Bot.objects.filter(owner=alice).count() == 50
    assert api(bob).post("/api/bots/", BOT, format="json").status_code == 201  # per user, not platform-wide
    # an archived bot no longer counts
    assert api(alice).delete(f"/api/bots/{Bot.objects.filter(owner=alice).first().pk}/").status_code == 204
    assert api(alice).post("/api/bots/", BOT, format="json").status_code == 201


def test_starting_beyond_the_running_limit_is_refused(api, alice, settings):
    settings.QUOTA_RUNNING_BOTS = 2
    a, b, c = _bots(alice, 3)
    client = api(alice)
    assert client.post(f"/api/bots/{a.pk}/start/").status_code == 200
    assert client.post(f"/api/bots/{b.pk}/start/").status_code == 200
    assert client.post(f"/api/bots/{b.pk}/start/").status_code == 200  # already running: not one more
    _refused(client.post(f"/api/bots/{c.pk}/start/"), "running_bots", 2, 2)
    assert Bot.objects.get(pk=c.pk).status == Bot.Status.STOPPED
    assert client.post(f"/api/bots/{a.pk}/stop/").status_code == 200
    assert client.post(f"/api/bots/{c.pk}/start/").status_code == 200


def test_watchlist_over_the_limit_is_refused_until_staff_raise_it_in_admin(api, alice, staff_client, settings):
    settings.DEFAULT_WATCHLIST = []
    Quota.objects.create(user=None, watchlist_symbols=2)  # the platform row, as staff would set it
    client = api(alice)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        assert client.post("/api/watchlist/", {"exchange": "binance", "symbol": symbol}, format="json").status_code == 201
    third = {"exchange": "binance", "symbol": "XRP/USDT"}
    _refused(client.post("/api/watchlist/", third, format="json"), "watchlist_symbols", 2, 2)
    # a symbol already watched is not one more
    assert client.post("/api/watchlist/", {"exchange": "binance", "symbol": "BTC/USDT"},
                       format="json").status_code == 200

    # staff give alice her own, higher limit in admin: allowed at once (no cache to wait out)
    page = staff_client.post("/admin/risk/quota/add/", {"user": alice.pk, "watchlist_symbols": 3, "bots": "",
                                                         "running_bots": "", "api_requests_per_minute": ""})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert client.post("/api/watchlist/", third, format="json").status_code == 201
    _refused(client.post("/api/watchlist/", {"exchange": "binance", "symbol": "LTC/BTC"}, format="json"),
             "watchlist_symbols", 3, 3)


def test_staff_raise_the_platform_bot_limit_in_admin(api, alice, staff_client, settings):
    settings.QUOTA_BOTS = 2
    _bots(alice, 2)
    _refused(api(alice).post("/api/bots/", BOT, format="json"), "bots", 2, 2)
    page = staff_client.post("/admin/risk/quota/add/", {"user": "", "bots": 5, "running_bots": "",
                                                         "watchlist_symbols": "", "api_requests_per_minute": ""})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert api(alice).post("/api/bots/", BOT, format="json").status_code == 201
    assert staff_client.get("/admin/risk/quota/").status_code == 200


def test_api_requests_over_the_per_user_rate_are_429_with_retry_after(api, alice, bob, settings):
    settings.QUOTA_API_REQUESTS_PER_MINUTE = 5
    client = api(alice)
    assert [client.get("/api/bots/").status_code for _ in range(5)] == [200] * 5
    r = client.get("/api/bots/")
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    err = r.json()["error"]
    assert err["code"] == "throttled" and "at most 5 API requests per minute" in err["message"]
    assert api(bob).get("/api/bots/").status_code == 200  # per user id


def test_the_quota_answers_are_in_the_schema(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    ops = schema["paths"]
    assert "409" in ops["/api/bots/"]["post"]["responses"]
    assert "409" in ops["/api/bots/{id}/start/"]["post"]["responses"]
    assert "409" in ops["/api/watchlist/"]["post"]["responses"]
    throttled = ops["/api/bots/"]["get"]["responses"]["429"]
    assert "Retry-After" in throttled["headers"]
    assert throttled["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
