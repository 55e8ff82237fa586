"""GET /api/bots/ and /api/bots/{id}/ carry the bot's health, described in the OpenAPI schema."""

from decimal import Decimal

import pytest

from trading.models import Bot
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


def _bot(owner, **kw):
    return bot_create(owner=owner, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7, **kw)


def test_a_running_bot_that_cannot_trade_never_says_running_in_the_api(api, alice):
    bot = bot_start(bot=_bot(alice), actor=alice)
    Bot.objects.filter(pk=bot.pk).update(last_tick_note="blocked: max_open_trades: Open trade limit reached")
    r = api(alice).get(f"/api/bots/{bot.pk}/")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "running"
    assert body["health"] == {"state": "blocked", "label": "blocked: max_open_trades: Open trade limit reached",
                              "detail": "The risk gate refused the last order this bot wanted to place."}
    Bot.objects.filter(pk=bot.pk).update(last_tick_note="warming up: needs 3 more candles")
    listed = api(alice).get("/api/bots/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows[0]["health"]["state"] == "warming_up" and rows[0]["health"]["label"] == "warming up: needs 3 more candles"


def test_a_stopped_bot_reports_its_status_as_health(api, alice):
    bot = _bot(alice)
    assert api(alice).get(f"/api/bots/{bot.pk}/").json()["health"]["state"] == "stopped"


def test_the_schema_describes_the_health_states(api, alice):
    schema = api(alice).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    health = schema["components"]["schemas"]["BotHealthOut"]
    assert set(health["required"]) == {"state", "label", "detail"}
    ref = health["properties"]["state"]["allOf"][0]["$ref"]
    enum = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"]
    assert {"running", "warming_up", "blocked", "stale_prices", "idle"} <= set(enum)
    assert "health" in schema["components"]["schemas"]["BotOut"]["properties"]
