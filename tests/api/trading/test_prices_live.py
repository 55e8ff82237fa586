import pytest

from trading.price_selectors import SUBS_KEY
from trading.services.prices import prices_poll

pytestmark = pytest.mark.django_db
URL = "/api/prices/live/"


@pytest.fixture
def synthetic(settings):
    settings.MARKET_DATA_SOURCE = "synthetic"


def test_it_returns_numeric_prices_with_timestamps_and_a_stale_flag(api, alice, synthetic):
    polled = {t.symbol: t for t in prices_poll(exchange="binance", symbols={"BTC/USDT", "ETH/USDT"}).ticks}
    r = api(alice).get(URL, {"exchange": "binance", "symbols": "BTC/USDT,ETH/USDT"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["source"] == "synthetic" and body["real"] is False and "not real" in body["label"]
    prices = {p["symbol"]: p for p in body["prices"]}
    for symbol in ("BTC/USDT", "ETH/USDT"):
        p = prices[symbol]
        assert isinstance(p["last"], float) and p["last"] == float(polled[symbol].last)
        assert p["bid"] < p["last"] < p["ask"]
        assert p["stale"] is False and p["received_at"].endswith("Z") and 0 <= p["age_seconds"] < 5


def test_a_symbol_never_polled_is_stale_and_gets_polled_next(api, alice, settings):
    from config.redis import get_redis

    r = api(alice).get(URL, {"exchange": "binance", "symbols": "SOL/USDT"})
    price = r.json()["prices"][0]
    assert price["stale"] is True and price["reason"] == "not polled yet" and price["last"] is None
    assert "SOL/USDT" in get_redis().zrange(SUBS_KEY.format(exchange="binance"), 0, -1)


def test_an_old_price_is_reported_stale_with_its_age(api, alice, synthetic, settings):
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    settings.PRICE_STALE_AFTER_SECONDS = -1
    p = api(alice).get(URL, {"exchange": "binance", "symbols": "BTC/USDT"}).json()["prices"][0]
    assert p["stale"] is True and p["reason"].startswith("no update for") and p["last"] is not None


def test_the_real_feed_is_labelled_live(api, alice):
    body = api(alice).get(URL, {"exchange": "binance", "symbols": "BTC/USDT"}).json()
    assert body["source"] == "ccxt" and body["real"] is True


@pytest.mark.parametrize("params, field", [
    ({"exchange": "nowhere", "symbols": "BTC/USDT"}, "exchange"),
    ({"exchange": "binance", "symbols": ""}, "symbols"),
    ({"exchange": "binance", "symbols": "BTC-USDT"}, "symbols"),
    ({"exchange": "binance"}, "symbols"),
    ({"exchange": "binance", "symbols": ",".join(f"C{i}/USDT" for i in range(51))}, "symbols"),
])
def test_bad_queries_get_400_with_the_field(api, alice, params, field):
    r = api(alice).get(URL, params)
    assert r.status_code == 400 and field in r.json()["error"]["fields"]


def test_it_needs_authentication_but_no_exchange_key(anon, api, alice, synthetic):
    assert anon.get(URL, {"exchange": "binance", "symbols": "BTC/USDT"}).status_code == 401
    assert not alice.exchange_keys.exists()
    assert api(alice).get(URL, {"exchange": "binance", "symbols": "BTC/USDT"}).status_code == 200
