"""The Binance emulator answers like Binance: shapes, signed-request checks, errors and faults.

Plain HTTP here (requests, our own HMAC), so the emulator is checked independently of ccxt.
"""

import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests

from tests.emulator.binance import API_KEY, SECRET


def get(emu, path, timeout=3, **params):
    return requests.get(f"{emu.url}{path}", params=params, timeout=timeout)


def signed(emu, method, path, *, key=API_KEY, secret=SECRET, in_body=False, timestamp=None, headers=None,
           **params):
    params = {**params, "timestamp": timestamp if timestamp is not None else int(time.time() * 1000)}
    query = urlencode(params)
    query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    hdrs = {"X-MBX-APIKEY": key} if key is not None else {}
    hdrs.update(headers or {})
    if in_body:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        return requests.request(method, f"{emu.url}{path}", data=query, headers=hdrs, timeout=3)
    return requests.request(method, f"{emu.url}{path}?{query}", headers=hdrs, timeout=3)


def error_of(response):
    return response.status_code, response.json()["code"], response.json()["msg"]


# --- public market data ------------------------------------------------------------------

def test_it_answers_ping_and_server_time(binance_emulator):
    assert get(binance_emulator, "/api/v3/ping").json() == {}
    server_time = get(binance_emulator, "/api/v3/time").json()["serverTime"]
    assert abs(server_time - time.time() * 1000) < 5000


def test_it_lists_its_symbols_with_realistic_filters(binance_emulator):
    info = get(binance_emulator, "/api/v3/exchangeInfo").json()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT", "ETHBTC", "LTCBTC", "XRPUSDT"}
    btc = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    assert btc["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert btc["LOT_SIZE"]["stepSize"] == "0.00001000" and btc["LOT_SIZE"]["minQty"] == "0.00001000"
    assert btc["NOTIONAL"]["minNotional"] == "5.00000000"
    assert "MIN_NOTIONAL" in {f["filterType"] for f in symbols["LTCBTC"]["filters"]}
    one = get(binance_emulator, "/api/v3/exchangeInfo", symbol="ETHBTC").json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]


def test_it_serves_one_ticker_as_an_object_and_several_as_a_list(binance_emulator):
    one = get(binance_emulator, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").json()
    assert one["symbol"] == "BTCUSDT" and Decimal(one["bidPrice"]) < Decimal(one["askPrice"])
    some = get(binance_emulator, "/api/v3/ticker/24hr", symbols='["BTCUSDT","XRPUSDT"]').json()
    assert [t["symbol"] for t in some] == ["BTCUSDT", "XRPUSDT"]
    assert {"lastPrice", "bidPrice", "askPrice", "volume", "priceChangePercent"} <= set(some[0])
    everything = get(binance_emulator, "/api/v3/ticker/price").json()
    assert len(everything) == 5


def test_it_answers_an_unknown_symbol_with_binances_error(binance_emulator):
    assert error_of(get(binance_emulator, "/api/v3/ticker/price", symbol="DOGEUSDT")) == (400, -1121,
                                                                                            "Invalid symbol.")
    r = get(binance_emulator, "/api/v3/ticker/24hr", symbols="BTCUSDT")  # not a JSON list
    assert r.status_code == 400 and r.json()["code"] == -1100


def test_moving_the_price_shows_in_every_ticker_and_the_book(binance_emulator):
    binance_emulator.set_price("BTC/USDT", bid="70000.10", ask="70000.30", last="70000.20")
    assert get(binance_emulator, "/api/v3/ticker/price", symbol="BTCUSDT").json()["price"] == "70000.20000000"
    day = get(binance_emulator, "/api/v3/ticker/24hr", symbol="BTCUSDT").json()
    assert (day["bidPrice"], day["askPrice"], day["highPrice"]) == ("70000.10000000", "70000.30000000",
                                                                   "70000.20000000")
    book = get(binance_emulator, "/api/v3/depth", symbol="BTCUSDT", limit=5).json()
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] == "70000.10000000" and book["asks"][0][0] == "70000.30000000"


def test_klines_honour_limit_and_end_at_the_last_price(binance_emulator):
    rows = get(binance_emulator, "/api/v3/klines", symbol="ETHUSDT", interval="1m", limit=3).json()
    assert len(rows) == 3
    assert rows[1][0] - rows[0][0] == 60_000 and rows[-1][4] == "3500.00000000"
    assert error_of(get(binance_emulator, "/api/v3/klines", symbol="ETHUSDT", interval="7m")) == (
        400, -1120, "Invalid interval.")


# --- signed requests ---------------------------------------------------------------------

def test_a_correctly_signed_request_reads_the_account(binance_emulator):
    r = signed(binance_emulator, "GET", "/api/v3/account", omitZeroBalances="true")
    assert r.status_code == 200
    assert {b["asset"]: b["free"] for b in r.json()["balances"]} == {
        "BTC": "0.50000000", "ETH": "2.00000000", "USDT": "10000.00000000"}


def test_a_signature_made_with_another_secret_is_refused(binance_emulator):
    r = signed(binance_emulator, "GET", "/api/v3/account", secret="not-the-emulator-secret-placeholder")
    assert error_of(r) == (400, -1022, "Signature for this request is not valid.")


def test_a_missing_or_malformed_api_key_is_refused(binance_emulator):
    assert error_of(signed(binance_emulator, "GET", "/api/v3/account", key=None)) == (
        401, -2014, "API-key format invalid.")
    assert error_of(signed(binance_emulator, "GET", "/api/v3/account", key="has spaces!")) == (
        401, -2014, "API-key format invalid.")


def test_an_unknown_api_key_is_refused(binance_emulator):
    assert error_of(signed(binance_emulator, "GET", "/api/v3/account", key="A" * 64)) == (
        401, -2015, "Invalid API-key, IP, or permissions for action.")


def test_a_request_outside_the_recv_window_is_refused(binance_emulator):
    old = int(time.time() * 1000) - 6000
    assert error_of(signed(binance_emulator, "GET", "/api/v3/account", timestamp=old)) == (
        400, -1021, "Timestamp for this request is outside of the recvWindow.")
    assert signed(binance_emulator, "GET", "/api/v3/account", timestamp=old, recvWindow=10000).status_code == 200
    future = int(time.time() * 1000) + 5000
    assert error_of(signed(binance_emulator, "GET", "/api/v3/account", timestamp=future))[1] == -1021


def test_an_unsigned_call_to_a_signed_endpoint_is_refused(binance_emulator):
    r = requests.get(f"{binance_emulator.url}/api/v3/account", params={"timestamp": int(time.time() * 1000)},
                     headers={"X-MBX-APIKEY": API_KEY}, timeout=3)
    assert r.status_code == 400 and r.json()["code"] == -1102


def test_orders_signed_in_the_body_rest_lock_funds_and_cancel(binance_emulator):
    r = signed(binance_emulator, "POST", "/api/v3/order", in_body=True, symbol="BTCUSDT", side="BUY",
               type="LIMIT", timeInForce="GTC", quantity="0.01", price="60000")
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["status"] == "NEW" and order["fills"] == []
    assert binance_emulator.balance("USDT") == (Decimal("9400"), Decimal("600"))
    listed = signed(binance_emulator, "GET", "/api/v3/openOrders", symbol="BTCUSDT").json()
    assert [o["orderId"] for o in listed] == [order["orderId"]]
    cancelled = signed(binance_emulator, "DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
    assert cancelled.json()["status"] == "CANCELED"
    assert binance_emulator.balance("USDT") == (Decimal("10000"), Decimal("0"))
    again = signed(binance_emulator, "DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
    assert error_of(again) == (400, -2011, "Unknown order sent.")
    missing = signed(binance_emulator, "GET", "/api/v3/order", symbol="BTCUSDT", orderId=1)
    assert error_of(missing) == (400, -2013, "Order does not exist.")


def test_a_resting_order_fills_when_the_market_crosses_it(binance_emulator):
    r = signed(binance_emulator, "POST", "/api/v3/order", symbol="ETHUSDT", side="SELL", type="LIMIT",
               timeInForce="GTC", quantity="1", price="3600")
    order_id = r.json()["orderId"]
    binance_emulator.set_price("ETH/USDT", bid="3601", ask="3602")
    order = signed(binance_emulator, "GET", "/api/v3/order", symbol="ETHUSDT", orderId=order_id).json()
    assert (order["status"], order["executedQty"]) == ("FILLED", "1.00000000")
    assert binance_emulator.balance("ETH")[0] == Decimal("1")
    assert binance_emulator.balance("USDT")[0] == Decimal("10000") + Decimal("3600") * Decimal("0.999")


def test_with_limited_depth_orders_fill_in_several_trades_each_with_its_own_id_and_fee(binance_emulator):
    emu = binance_emulator
    emu.set_depth("BTC/USDT", "0.01")
    market = signed(emu, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.025").json()
    assert market["status"] == "FILLED" and market["executedQty"] == "0.02500000"
    assert [(f["price"], f["qty"]) for f in market["fills"]] == [
        ("65000.01000000", "0.01000000"), ("65000.02000000", "0.01000000"), ("65000.03000000", "0.00500000")]
    assert [f["commission"] for f in market["fills"]] == ["0.00001000", "0.00001000", "0.00000500"]
    assert len({f["tradeId"] for f in market["fills"]}) == 3
    # a limit order takes the levels its price reaches and rests the rest
    r = signed(emu, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
               quantity="0.03", price="65000.02").json()
    assert (r["status"], r["executedQty"], len(r["fills"])) == ("PARTIALLY_FILLED", "0.02000000", 2)
    listed = signed(emu, "GET", "/api/v3/openOrders", symbol="BTCUSDT").json()
    assert [(o["orderId"], o["status"]) for o in listed] == [(r["orderId"], "PARTIALLY_FILLED")]
    assert emu.balance("USDT")[1] == Decimal("650.0002")  # only the resting 0.01 is locked
    cancelled = signed(emu, "DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=r["orderId"]).json()
    assert (cancelled["status"], cancelled["executedQty"]) == ("CANCELED", "0.02000000")
    assert emu.balance("USDT")[1] == 0
    fok = signed(emu, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="FOK",
                 quantity="0.03", price="65000.02").json()
    assert (fok["status"], fok["executedQty"]) == ("EXPIRED", "0.00000000")
    trades = signed(emu, "GET", "/api/v3/myTrades", symbol="BTCUSDT").json()
    assert len(trades) == 5 and [t["id"] for t in trades] == sorted({t["id"] for t in trades})


def test_the_market_trading_through_a_resting_order_fills_it_in_parts(binance_emulator):
    emu = binance_emulator
    r = signed(emu, "POST", "/api/v3/order", symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
               quantity="1", price="3600").json()
    assert [t["qty"] for t in emu.trade("ETH/USDT", "3600.5", "0.4")] == ["0.40000000"]
    order = signed(emu, "GET", "/api/v3/order", symbol="ETHUSDT", orderId=r["orderId"]).json()
    assert (order["status"], order["executedQty"]) == ("PARTIALLY_FILLED", "0.40000000")
    assert emu.trade("ETH/USDT", "3599", "5") == []  # below our ask: not ours
    assert [t["qty"] for t in emu.trade("ETH/USDT", "3600", "5")] == ["0.60000000"]
    order = signed(emu, "GET", "/api/v3/order", symbol="ETHUSDT", orderId=r["orderId"]).json()
    assert order["status"] == "FILLED" and emu.balance("ETH") == (Decimal("1"), Decimal("0"))


def test_fees_can_be_charged_in_bnb_at_a_quarter_off(binance_emulator):
    emu = binance_emulator
    emu.list_market("BNB/USDT")
    emu.set_balance("BNB", "1")
    emu.pay_fees_in_bnb()
    r = signed(emu, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01").json()
    fill = r["fills"][0]
    assert fill["commissionAsset"] == "BNB"
    assert Decimal(fill["commission"]) == (Decimal("650.0001") * Decimal("0.00075") / Decimal("600")).quantize(
        Decimal("0.00000001"))
    assert emu.balance("BTC")[0] == Decimal("0.51")  # the whole amount bought; the fee came out of BNB
    emu.set_balance("BNB", "0")
    again = signed(emu, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01").json()
    assert again["fills"][0]["commissionAsset"] == "BTC"  # not enough BNB: the usual asset


def test_orders_break_binances_filters_and_balance_rules_as_binance_does(binance_emulator):
    def order(**p):
        return error_of(signed(binance_emulator, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", **p))

    assert order(type="MARKET", quantity="0.000015") == (400, -1013, "Filter failure: LOT_SIZE")
    assert order(type="LIMIT", timeInForce="GTC", quantity="0.01", price="60000.001") == (
        400, -1013, "Filter failure: PRICE_FILTER")
    assert order(type="MARKET", quantity="0.00001") == (400, -1013, "Filter failure: NOTIONAL")
    assert order(type="MARKET", quantity="1") == (400, -2010, "Account has insufficient balance for requested "
                                                               "action.")
    assert order(type="LIMIT", quantity="0.01", price="60000")[1] == -1102  # no timeInForce


# --- faults ------------------------------------------------------------------------------

def test_it_can_rate_limit_with_retry_after_then_recover(binance_emulator):
    binance_emulator.fail("rate_limit", path="/api/v3/ticker/price", times=1, retry_after=7)
    r = get(binance_emulator, "/api/v3/ticker/price", symbol="BTCUSDT")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["code"] == -1003
    assert get(binance_emulator, "/api/v3/ticker/price", symbol="BTCUSDT").status_code == 200


def test_it_can_ban_fail_with_5xx_and_send_broken_json(binance_emulator):
    binance_emulator.fail("ban", times=1)
    assert get(binance_emulator, "/api/v3/time").status_code == 418
    binance_emulator.fail("server_error", times=1, status=503)
    assert get(binance_emulator, "/api/v3/time").status_code == 503
    binance_emulator.fail("malformed", times=1)
    r = get(binance_emulator, "/api/v3/exchangeInfo")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_it_can_stall_longer_than_a_client_waits(binance_emulator):
    binance_emulator.fail("timeout", seconds=5, times=1)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        get(binance_emulator, "/api/v3/ping", timeout=0.3)
    assert time.monotonic() - started < 2


def test_it_can_send_null_or_junk_prices_in_tickers_only(binance_emulator):
    binance_emulator.fail("null_prices")
    t = get(binance_emulator, "/api/v3/ticker/24hr", symbol="BTCUSDT").json()
    assert t["bidPrice"] is None and t["lastPrice"] is None and t["symbol"] == "BTCUSDT"
    assert get(binance_emulator, "/api/v3/depth", symbol="BTCUSDT").json()["bids"]  # not a ticker: untouched
    binance_emulator.clear_faults()
    binance_emulator.fail("garbage_prices", value="abc", path="/api/v3/ticker/bookTicker")
    assert get(binance_emulator, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").json()["askPrice"] == "abc"
    assert get(binance_emulator, "/api/v3/ticker/price", symbol="BTCUSDT").json()["price"] != "abc"


def test_it_counts_requests_per_path(binance_emulator):
    for _ in range(3):
        get(binance_emulator, "/api/v3/ticker/price", symbol="BTCUSDT")
    get(binance_emulator, "/api/v3/time")
    assert binance_emulator.count("/api/v3/ticker/price") == 3
    assert binance_emulator.count() == 4
    assert [h.path for h in binance_emulator.requests][-1] == "/api/v3/time"


def test_another_process_can_steer_it_over_http(binance_emulator):
    base = f"{binance_emulator.url}/__emulator__"
    r = requests.post(f"{base}/price", json={"symbol": "XRP/USDT", "bid": "0.6", "ask": "0.61"}, timeout=3)
    assert r.status_code == 200
    assert get(binance_emulator, "/api/v3/ticker/bookTicker", symbol="XRPUSDT").json()["bidPrice"] == "0.60000000"
    requests.post(f"{base}/fault", json={"kind": "429", "times": 1}, timeout=3)
    assert get(binance_emulator, "/api/v3/time").status_code == 429
    stats = requests.get(f"{base}/stats", timeout=3).json()
    assert stats["requests"] == {"/api/v3/ticker/bookTicker": 1, "/api/v3/time": 1}  # control calls not counted
    assert requests.post(f"{base}/fault", json={"kind": "meteor"}, timeout=3).status_code == 400
