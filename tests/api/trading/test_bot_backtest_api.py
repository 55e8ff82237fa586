"""POST /api/bots/{id}/backtest/: the bot's own settings over stored candles, as JSON for the page's chart."""

from decimal import Decimal

import pytest

from tests.bots_support import recording_bars, write_recording
from trading.models import EquitySnapshot, Fill, Order
from trading.services.backtests import bot_backtest
from trading.services.bots import bot_create
from trading.services.candles import candles_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def bars(tmp_path):
    path = write_recording(tmp_path, bars=240)
    series = recording_bars(path)
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=series)
    return series


@pytest.fixture
def bot(alice):
    return bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7)


def url(bot) -> str:
    return f"/api/bots/{bot.pk}/backtest/"


def iso(ms: int) -> str:
    from trading.backtest import iso as to_iso

    return to_iso(ms)


def test_it_backtests_the_bots_settings_and_returns_stats_trades_and_a_curve(api, alice, bot, bars):
    r = api(alice).post(url(bot), {}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body == bot_backtest(bot=bot) | {"elapsed_ms": body["elapsed_ms"]}  # exactly the service's result
    assert body["candles"]["count"] == 240 and body["timeframe"] == "1m"
    assert body["closed_trades"] == len(body["trades"]) >= 3
    for key in ("final_equity", "return_pct", "max_drawdown_pct", "fees_paid", "starting_balance"):
        Decimal(body[key])  # decimals as strings
    assert body["starting_balance"] == "1000" and body["quote_currency"] == "USDT"
    trade = body["trades"][0]
    assert {"entry_time", "entry_price", "exit_time", "exit_price", "amount", "fee", "pnl"} <= set(trade)
    assert trade["entry_time"] < trade["exit_time"]
    assert len(body["equity_curve"]) == 241 and body["equity_curve"][0]["equity"] == "1000"
    assert Order.objects.count() == Fill.objects.count() == EquitySnapshot.objects.count() == 0


def test_a_session_user_can_run_it_with_the_csrf_header(alice, bot, bars):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(f"/bots/{bot.pk}/")
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    assert client.post(url(bot), "{}", content_type="application/json").status_code == 403  # no header
    r = client.post(url(bot), "{}", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 200 and r.json()["closed_trades"] >= 3


def test_a_range_and_timeframe_are_honoured(api, alice, bot, bars):
    r = api(alice).post(url(bot), {"start": iso(bars[40].ts_ms), "end": iso(bars[199].ts_ms), "timeframe": "1m"},
                        format="json")
    assert r.status_code == 200, r.content
    c = r.json()["candles"]
    assert c["count"] == 160 and c["first_ts_ms"] == bars[40].ts_ms and c["last_ts_ms"] == bars[199].ts_ms
    offset = api(alice).post(url(bot), {"start": "2023-11-14T23:15:00+01:00"}, format="json")  # = 22:15 UTC
    assert offset.status_code == 200 and offset.json()["candles"]["first"] == "2023-11-14T22:15:00Z"


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({"start": "2023-11-15T00:00:00Z", "end": "2023-11-14T00:00:00Z"}, "end", "end: Must be after the start."),
    ({"start": "yesterday"}, "start", "start: Datetime has wrong format"),
    ({"timeframe": "7m"}, "timeframe", 'timeframe: "7m" is not a valid choice.'),
    ({"bars": 0}, "bars", "bars: Ensure this value is greater than or equal to 1."),
])
def test_bad_input_is_a_400_with_a_clear_message(api, alice, bot, bars, payload, field, message):
    r = api(alice).post(url(bot), payload, format="json")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid" and field in err["fields"] and err["message"].startswith(message)


def test_too_few_candles_is_a_400_that_says_how_many_are_needed(api, alice, bot, bars):
    r = api(alice).post(url(bot), {"end": iso(bars[5].ts_ms)}, format="json")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "not_enough_candles"
    assert "Only 6 1m candles" in err["message"] and "at least 10" in err["message"]
    assert "slow+1 = 9" in err["message"]
    empty = api(alice).post(url(bot), {"timeframe": "1h"}, format="json")
    assert empty.status_code == 400 and "Only 0 1h candles" in empty.json()["error"]["message"]


def test_another_users_bot_is_a_404_and_anonymous_is_refused(api, anon, bob, bot, bars):
    r = api(bob).post(url(bot), {}, format="json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "Trend" not in r.content.decode()
    assert anon.post(url(bot), {}, format="json").status_code == 401


def test_an_archived_bot_is_gone(api, alice, bot, bars):
    from trading.services.bots import bot_archive

    bot_archive(bot=bot, actor=alice)
    assert api(alice).post(url(bot), {}, format="json").status_code == 404


def test_runs_are_throttled_per_user(api, alice, bot, bars, settings):
    from trading.api.backtest_views import BacktestThrottle

    client = api(alice)
    codes = [client.post(url(bot), {"bars": 20}, format="json").status_code for _ in range(BacktestThrottle().num_requests)]
    assert set(codes) == {200}
    r = client.post(url(bot), {"bars": 20}, format="json")
    assert r.status_code == 429 and r.json()["error"]["code"] == "throttled"


def test_one_run_at_a_time_per_user(api, alice, bot, bars):
    from django.core.cache import cache

    from trading.api.backtest_views import running_key

    cache.set(running_key(alice.pk), 1, timeout=60)  # a run of alice's still in progress
    r = api(alice).post(url(bot), {}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "backtest_running"
    assert "still running" in r.json()["error"]["message"]
    cache.delete(running_key(alice.pk))
    assert api(alice).post(url(bot), {}, format="json").status_code == 200
    assert cache.get(running_key(alice.pk)) is None  # released after the run


def test_a_failed_run_releases_the_lock(api, alice, bot, bars):
    from django.core.cache import cache

    from trading.api.backtest_views import running_key

    assert api(alice).post(url(bot), {"timeframe": "1h"}, format="json").status_code == 400
    assert cache.get(running_key(alice.pk)) is None
