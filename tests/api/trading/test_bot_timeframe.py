"""A bot's candle timeframe in the API: chosen on create (default 1m), refused when unknown or when the
exchange does not offer it, changed only while stopped, and the backtest replays it by default."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot, Candle

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]

URL = "/api/bots/"
GOOD = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 8}, "starting_balance": "1000"}


def test_a_bot_is_on_1m_candles_unless_told_otherwise(api, alice):
    r = api(alice).post(URL, GOOD, format="json")
    assert r.status_code == 201 and r.json()["timeframe"] == "1m"
    r = api(alice).post(URL, {**GOOD, "timeframe": "15m"}, format="json")
    assert r.status_code == 201 and r.json()["timeframe"] == "15m"
    assert Bot.objects.get(pk=r.json()["id"]).timeframe == "15m"
    schema = api(alice).get("/api/schema/?format=json").json()
    bot_in = next(v for k, v in schema["components"]["schemas"].items() if k.startswith("BotIn"))
    assert "#/components/schemas/BotTimeframeEnum" in str(bot_in["properties"]["timeframe"])
    assert schema["components"]["schemas"]["BotTimeframeEnum"]["enum"] == ["1m", "5m", "15m", "30m", "1h", "4h"]


@pytest.mark.parametrize(("change", "text"), [
    ({"timeframe": "7m"}, "valid choice"),
    ({"timeframe": "1d"}, "valid choice"),  # not one a bot can trade on
    ({"exchange": "coinbase", "timeframe": "4h"}, "coinbase does not offer 4h candles"),
])
def test_a_timeframe_the_bot_cannot_use_is_a_400_on_the_field(api, alice, change, text):
    r = api(alice).post(URL, {**GOOD, **change}, format="json")
    assert r.status_code == 400, r.json()
    error = r.json()["error"]
    assert text in " ".join(error["fields"]["timeframe"]), error


def test_the_timeframe_changes_only_while_stopped(api, alice):
    bot = api(alice).post(URL, GOOD, format="json").json()
    r = api(alice).patch(f"{URL}{bot['id']}/", {"timeframe": "5m"}, format="json")
    assert r.status_code == 200 and r.json()["timeframe"] == "5m"
    api(alice).post(f"{URL}{bot['id']}/start/")
    r = api(alice).patch(f"{URL}{bot['id']}/", {"timeframe": "1h"}, format="json")
    assert r.status_code == 409 and "timeframe" in r.json()["error"]["message"]
    assert Bot.objects.get(pk=bot["id"]).timeframe == "5m"


def test_the_backtest_replays_the_bots_timeframe_by_default(api, alice):
    start = (timezone.now() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    Candle.objects.bulk_create([
        Candle(exchange="binance", symbol="BTC/USDT", timeframe="5m", ts=start + timedelta(minutes=5 * i),
               open=Decimal(100 + i % 7), high=Decimal(101 + i % 7), low=Decimal(99 + i % 7),
               close=Decimal(100 + (i * 3) % 7), volume=Decimal(1)) for i in range(60)])
    bot = api(alice).post(URL, {**GOOD, "timeframe": "5m"}, format="json").json()
    r = api(alice).post(f"{URL}{bot['id']}/backtest/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["timeframe"] == "5m" and r.json()["candles"]["count"] == 60
    r = api(alice).post(f"{URL}{bot['id']}/backtest/", {"timeframe": "1m"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "not_enough_candles"
