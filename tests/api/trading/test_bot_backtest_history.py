"""A backtest on a fresh install: POST /api/bots/{id}/backtest/ with fetch=true pages the exchange's klines
(the Binance emulator, through the real ccxt client), stores them once and reuses them."""

from decimal import Decimal

import pytest

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Candle
from trading.services.bots import bot_create
from trading.services.candles import candles_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(alice, binance_markets):
    return bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7)


def _klines(emu):
    return [h for h in emu.requests if h.path == "/api/v3/klines"]


def test_a_fresh_install_backtest_fetches_history_in_pages_and_reuses_it(api, alice, bot, binance_markets):
    assert not Candle.objects.exists()
    before = api(alice).post(f"/api/bots/{bot.pk}/backtest/", {"timeframe": "1m", "bars": 2500}, format="json")
    assert before.status_code == 400 and before.json()["error"]["code"] == "not_enough_candles"  # without fetch

    r = api(alice).post(f"/api/bots/{bot.pk}/backtest/", {"timeframe": "1m", "bars": 2500, "fetch": True},
                        format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["history"]["error"] is None
    assert body["history"]["pages"] == 3 and body["history"]["fetched"] == 2500  # 1000 + 1000 + 500
    assert body["candles"]["count"] == 2500 and body["fills"] > 0
    assert Candle.objects.filter(exchange="binance", symbol="BTC/USDT", timeframe="1m").count() == 2500
    assert len(_klines(binance_markets)) == 3

    again = api(alice).post(f"/api/bots/{bot.pk}/backtest/", {"timeframe": "1m", "bars": 2500, "fetch": True},
                            format="json").json()
    assert again["history"]["pages"] == 0 and again["history"]["fetched"] == 0  # stored once, reused
    assert len(_klines(binance_markets)) == 3
    assert again["final_equity"] == body["final_equity"]


def test_other_timeframes_are_fetched_and_only_closed_candles_are_stored(bot, binance_markets):
    now_ms = int(binance_markets._now_ms()) if hasattr(binance_markets, "_now_ms") else None
    out = candles_history(exchange="binance", symbol="BTC/USDT", timeframe="1h", start_ms=0, end_ms=10**13,
                          now_ms=now_ms)
    stored = list(Candle.objects.filter(timeframe="1h").order_by("ts").values_list("ts", flat=True))
    assert out["fetched"] == len(stored) > 0
    newest = stored[-1].timestamp() * 1000
    assert newest + 3_600_000 <= (now_ms or newest + 3_600_000)  # the forming hour is not stored


def test_an_unreachable_exchange_is_a_clear_400_not_a_500(api, alice, bot, settings, closed_port):
    settings.CCXT_OVERRIDES = {"binance": {"httpsProxy": f"http://127.0.0.1:{closed_port}"}}
    r = api(alice).post(f"/api/bots/{bot.pk}/backtest/", {"timeframe": "1m", "fetch": True}, format="json")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "not_enough_candles" and "Fetching history from binance failed" in err["message"]


def test_progress_is_idle_when_nothing_runs(api, alice, bot):
    r = api(alice).get(f"/api/bots/{bot.pk}/backtest/progress/")
    assert r.status_code == 200 and r.json() == {"state": "idle", "done": 0, "total": 0}


def test_the_history_is_fetched_through_ccxts_rate_limiter(binance_markets):
    """candles_history pages through public_client: ccxt spaces its requests by the exchange's rateLimit."""
    from exchanges.adapter import public_client

    client = public_client("binance")
    assert client.enableRateLimit is True and client.rateLimit > 0
