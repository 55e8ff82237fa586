import pytest

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Market
from trading.price_selectors import symbols_in_use
from trading.selectors import watched_pairs

pytestmark = pytest.mark.django_db
URL = "/api/watchlist/"


def test_a_fresh_user_sees_the_default_watchlist(alice, settings):
    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT", "binance:ETH/USDT"]
    assert watched_pairs(alice) == [("binance", "BTC/USDT"), ("binance", "ETH/USDT")]
    assert symbols_in_use()["binance"] >= {"BTC/USDT", "ETH/USDT"}


def test_users_add_and_remove_their_own_symbols(api, alice, bob, binance_markets, settings):
    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT", "binance:ETH/USDT"]
    c = api(alice)
    r = c.post(URL, {"exchange": "binance", "symbol": "XRP/USDT"}, format="json")
    assert r.status_code == 201
    again = c.post(URL, {"exchange": "binance", "symbol": "XRP/USDT"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    # added next to the default rows (now alice's own, each removable), not instead of them
    assert [w["symbol"] for w in c.get(URL).json()] == ["BTC/USDT", "ETH/USDT", "XRP/USDT"]
    assert watched_pairs(alice) == [("binance", "BTC/USDT"), ("binance", "ETH/USDT"), ("binance", "XRP/USDT")]
    assert "XRP/USDT" in symbols_in_use()["binance"]
    assert api(bob).get(URL).json() == []
    assert api(bob).delete(f"{URL}{r.json()['id']}/").status_code == 404
    assert c.delete(f"{URL}{r.json()['id']}/").status_code == 204
    assert [w["symbol"] for w in c.get(URL).json()] == ["BTC/USDT", "ETH/USDT"]


def test_an_unknown_symbol_is_refused_once_markets_are_known(api, alice):
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT")
    r = api(alice).post(URL, {"exchange": "binance", "symbol": "NOPE/USDT"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_symbol"
    assert "binance does not list NOPE/USDT" in r.json()["error"]["fields"]["symbol"][0]
    assert api(alice).post(URL, {"exchange": "binance", "symbol": "BTC/USDT"}, format="json").status_code == 201


def test_a_malformed_symbol_is_refused(api, alice):
    r = api(alice).post(URL, {"exchange": "binance", "symbol": "btc usdt"}, format="json")
    assert r.status_code == 400 and "BTC/USDT" in r.json()["error"]["fields"]["symbol"][0]


def test_an_unlisted_symbol_is_refused_with_suggestions_after_loading_the_markets(api, alice, use_binance_emulator):
    r = api(alice).post(URL, {"exchange": "binance", "symbol": "ETH/EUR"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_symbol"
    assert "Did you mean ETH/USDT, ETH/BTC?" in r.json()["error"]["message"]
    assert use_binance_emulator.count("/api/v3/exchangeInfo") >= 1  # loaded on first use
    assert api(alice).get(URL).json() == []
