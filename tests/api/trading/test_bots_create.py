"""POST /api/bots/: validation 400s with per-field messages, live refused, defaults filled in."""

import pytest

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot

# the Binance emulator's markets (BTC/USDT, ETH/USDT, ETH/BTC, LTC/BTC, XRP/USDT; min order 5 USDT)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]

URL = "/api/bots/"
GOOD = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
        "params": {"fast": 5, "slow": 20}, "starting_balance": "1000"}


def test_create_a_paper_bot(api, alice):
    r = api(alice).post(URL, GOOD, format="json")
    assert r.status_code == 201, r.json()
    bot = r.json()
    assert bot["status"] == "stopped" and bot["mode"] == "paper"
    assert bot["params"] == {"fast": 5, "slow": 20, "size_pct": "100", "stop_loss_pct": "0", "take_profit_pct": "0", "trailing_stop_pct": "0"}
    # exact decimal strings, normalized: no numeric(38, 18) padding, no exponent notation
    assert bot["quote"] == "1000" and bot["base"] == "0" and bot["starting_balance"] == "1000"
    assert bot["equity"] == "1000"
    listed = api(alice).get(URL).json()
    assert [b["id"] for b in listed] == [bot["id"]]


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"params": {"fast": 30, "slow": 20}}, "params.fast", "less than slow"),
    ({"params": {"fast": 0, "slow": 20}}, "params.fast", "at least 1"),
    ({"params": {"fast": "abc", "slow": 20}}, "params.fast", "whole number"),
    ({"params": {"fast": 5, "slow": 20, "size_pct": "150"}}, "params.size_pct", "at most 100"),
    ({"params": {"fast": 5, "slow": 20, "leverage": 10}}, "params.leverage", "unknown parameter"),
    ({"strategy": "dca", "params": {}}, "params.order_amount", "required"),
    ({"strategy": "martingale"}, "strategy", "Unknown strategy"),
    ({"starting_balance": "0"}, "starting_balance", "greater than 0"),
    ({"starting_balance": "lots"}, "starting_balance", "valid number"),
    ({"exchange": "mtgox"}, "exchange", "valid choice"),
    ({"symbol": "btc-usdt"}, "symbol", "BTC/USDT"),
    ({"name": ""}, "name", "blank"),
    ({"fill_overrides": {"reject_rate": "5"}}, "fill_overrides.reject_rate", "between 0 and 1"),
    ({"params": [1, 2]}, "params", "object"),
])
def test_bad_input_is_a_400_naming_the_field(api, alice, change, field, text):
    r = api(alice).post(URL, {**GOOD, **change}, format="json")
    assert r.status_code == 400, r.json()
    body = r.json()["error"]
    assert body["code"] == "invalid"
    assert field in body["fields"], body
    assert text.lower() in " ".join(body["fields"][field]).lower()


def test_live_mode_is_refused_until_the_promotion_workflow(api, alice):
    r = api(alice).post(URL, {**GOOD, "mode": "live"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "live_not_available"
    assert r.json()["error"]["message"].startswith("Live trading is not enabled on this platform")
    assert "promotion" in r.json()["error"]["fields"]["mode"][0]
    assert api(alice).get(URL).json() == []


def test_anonymous_users_cannot_list_or_create(anon):
    assert anon.get(URL).status_code == 401
    assert anon.post(URL, GOOD, format="json").status_code == 401


def test_params_are_editable_only_while_stopped(api, alice):
    bot = api(alice).post(URL, GOOD, format="json").json()
    url = f"{URL}{bot['id']}/"
    assert api(alice).post(f"{url}start/").status_code == 200
    r = api(alice).patch(url, {"params": {"fast": 6, "slow": 20}}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "bot_state_conflict"
    assert api(alice).patch(url, {"name": "Renamed"}, format="json").json()["name"] == "Renamed"
    assert api(alice).post(f"{url}stop/").json()["status"] == "stopped"
    r = api(alice).patch(url, {"params": {"fast": 6, "slow": 20}}, format="json")
    assert r.status_code == 200 and r.json()["params"]["fast"] == 6
    r = api(alice).patch(url, {"params": {"fast": 60, "slow": 20}}, format="json")
    assert r.status_code == 400 and "params.fast" in r.json()["error"]["fields"]


@pytest.mark.parametrize(("symbol", "suggested"), [
    ("DOGE/USDT", []),
    ("ETH/USD", ["ETH/USDT", "ETH/BTC"]),
    ("XRP/BTC", ["XRP/USDT"]),
])
def test_a_symbol_the_exchange_does_not_list_is_refused_with_suggestions(api, alice, symbol, suggested):
    r = api(alice).post(URL, {**GOOD, "symbol": symbol}, format="json")
    assert r.status_code == 400, r.json()
    error = r.json()["error"]
    assert error["code"] == "unknown_symbol" and f"binance does not list {symbol}" in error["fields"]["symbol"][0]
    for s in suggested:
        assert s in error["message"]
    assert not Bot.objects.exists()


def test_markup_as_a_symbol_is_refused(api, alice):
    r = api(alice).post(URL, {**GOOD, "symbol": "<script>alert(1)</script>"}, format="json")
    assert r.status_code == 400 and "symbol" in r.json()["error"]["fields"]
    assert not Bot.objects.exists()


def test_a_starting_balance_below_the_minimum_order_is_refused(api, alice):
    r = api(alice).post(URL, {**GOOD, "starting_balance": "0.000001"}, format="json")
    assert r.status_code == 400, r.json()
    error = r.json()["error"]
    assert error["code"] == "below_min_notional"
    assert "minimum order on BTC/USDT (5 USDT)" in error["fields"]["starting_balance"][0]
    assert "0.000001 USDT" in error["message"]
    assert api(alice).post(URL, {**GOOD, "starting_balance": "5"}, format="json").status_code == 201


def test_the_market_list_is_loaded_from_the_exchange_on_first_use(api, alice, use_binance_emulator):
    from trading.models import Market

    Market.objects.all().delete()
    r = api(alice).post(URL, {**GOOD, "symbol": "DOGE/USDT"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_symbol"
    assert use_binance_emulator.count("/api/v3/exchangeInfo") >= 1
    assert Market.objects.filter(exchange="binance", symbol="XRP/USDT").exists()


def test_when_the_market_list_cannot_be_loaded_nothing_is_created(api, alice, exchanges_unreachable):
    from trading.models import Market

    Market.objects.all().delete()
    r = api(alice).post(URL, GOOD, format="json")
    assert r.status_code == 503, r.json()
    assert r.json()["error"]["code"] == "markets_unavailable" and "Try again" in r.json()["error"]["message"]
    assert not Bot.objects.exists()


def test_the_markets_api_searches_the_exchanges_markets(api, alice):
    r = api(alice).get("/api/markets/", {"exchange": "binance", "q": "eth"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["known"] is True
    assert [m["symbol"] for m in body["markets"]] == ["ETH/BTC", "ETH/USDT"]
    eth = body["markets"][1]
    assert (eth["min_cost"], eth["amount_step"], eth["price_step"]) == ("5", "0.0001", "0.01")
    assert api(alice).get("/api/markets/", {"exchange": "mtgox"}).status_code == 400


def test_a_patch_to_live_is_refused_like_the_create_and_changes_nothing(api, alice):
    bot = api(alice).post(URL, GOOD, format="json").json()
    r = api(alice).patch(f"{URL}{bot['id']}/", {"mode": "live"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "live_not_available"
    assert api(alice).get(f"{URL}{bot['id']}/").json()["mode"] == "paper"
    assert api(alice).patch(f"{URL}{bot['id']}/", {"mode": "paper", "name": "Same"}, format="json").status_code == 200


def test_a_patch_of_a_fixed_field_is_refused_not_ignored(api, alice):
    bot = api(alice).post(URL, GOOD, format="json").json()
    r = api(alice).patch(f"{URL}{bot['id']}/", {"symbol": "ETH/USDT", "starting_balance": "5"}, format="json")
    assert r.status_code == 400
    assert set(r.json()["error"]["fields"]) == {"symbol", "starting_balance"}
    assert api(alice).get(f"{URL}{bot['id']}/").json()["symbol"] == "BTC/USDT"


@pytest.mark.parametrize("live_on", [False, True], ids=["live-off", "live-on"])
def test_every_way_of_asking_for_live_answers_400_and_points_at_the_promotion(api, alice, settings, live_on):
    settings.ENABLE_LIVE_TRADING = live_on
    bot = api(alice).post(URL, GOOD, format="json").json()
    answers = {"create": api(alice).post(URL, {**GOOD, "name": "Other", "mode": "live"}, format="json"),
               "patch": api(alice).patch(f"{URL}{bot['id']}/", {"mode": "live"}, format="json")}
    put = api(alice).put(f"{URL}{bot['id']}/", {"mode": "live"}, format="json")
    assert put.status_code == 405 and put.json()["error"]["code"] == "method_not_allowed"  # no PUT at all
    for how, r in answers.items():
        assert r.status_code == 400, (how, r.status_code, r.content)
        error = r.json()["error"]
        assert error["code"] == "live_not_available", how
        assert "promotion" in error["message"] and error["fields"]["mode"], how
        assert ("not enabled on this platform" in error["message"]) is not live_on, how
    assert f"/api/bots/{bot['id']}/promotion/" in answers["patch"].json()["error"]["message"]
    assert api(alice).get(f"{URL}{bot['id']}/").json()["mode"] == "paper"


@pytest.mark.parametrize("live_on", [False, True], ids=["live-off", "live-on"])
def test_the_pages_promise_live_trading_only_when_the_platform_has_it(client, alice, settings, live_on):
    settings.ENABLE_LIVE_TRADING = live_on
    signup = client.get("/signup/").content.decode()
    client.force_login(alice)
    bots = client.get("/bots/").content.decode()
    for html in (signup, bots):
        assert ("Live trading is not enabled on this platform" in html) is not live_on
        assert ("promote" in html or "promoted" in html) is live_on
