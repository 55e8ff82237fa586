"""exchanges.adapter: the real ccxt client against the local Binance emulator (no database needed)."""

import logging
import re
import time
from decimal import Decimal

import ccxt
import pytest

from exchanges import adapter as exchange
from exchanges.adapter import (
    BadExchangeData,
    BadSymbol,
    Credentials,
    ExchangeTimeout,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidCredentials,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    SandboxUnavailable,
    UnsupportedExchange,
    check_credentials,
    client_for,
    public_client,
    translate_errors,
)
from tests.emulator.binance import API_KEY, SECRET, overrides_for

GOOD = Credentials(api_key=API_KEY, secret=SECRET)
WRONG_SECRET = Credentials(api_key=API_KEY, secret="wrongSecretPlaceholder" + "9" * 42)
HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def emu(use_binance_emulator, settings):
    settings.CCXT_TIMEOUT_MS = 1000
    return use_binance_emulator


def assert_user_safe(error, *secrets):
    """No secret, no signature, no URL in anything a user or a log could see of the error."""
    texts = [error.message, str(error), repr(error)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert not HEX_SIGNATURE.search(text), text
        assert "signature=" not in text and "http" not in text and "127.0.0.1" not in text, text
    assert error.__cause__ is None and error.__suppress_context__  # ccxt's text is not chained into tracebacks


# --- public market data, no keys ---------------------------------------------------------

def test_it_loads_markets_without_keys(emu):
    markets = exchange.load_markets(client_for("binance"))
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "ETH/BTC", "LTC/BTC", "XRP/USDT"}
    assert markets["BTC/USDT"]["precision"]["price"] == 0.01
    assert markets["BTC/USDT"]["limits"]["cost"]["min"] == 5


def test_it_fetches_many_tickers_in_one_request(emu):
    emu.set_price("ETH/USDT", bid="3400.10", ask="3400.20")
    tickers = exchange.fetch_tickers(client_for("binance"), ["BTC/USDT", "ETH/USDT", "XRP/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT", "XRP/USDT"}
    assert (tickers["ETH/USDT"]["bid"], tickers["ETH/USDT"]["ask"]) == (3400.10, 3400.20)
    assert emu.count("/api/v3/ticker/24hr") == 1
    assert sum(emu.count(p) for p in ("/api/v3/ticker/price", "/api/v3/ticker/bookTicker")) == 0


def test_a_symbol_the_exchange_does_not_list_does_not_fail_the_batch(emu):
    tickers = exchange.fetch_tickers(client_for("binance"), ["BTC/USDT", "DOGE/USDT"])
    assert set(tickers) == {"BTC/USDT"}


def test_null_prices_come_back_as_none_instead_of_raising(emu):
    emu.fail("null_prices")
    tickers = exchange.fetch_tickers(client_for("binance"), ["BTC/USDT", "ETH/USDT"])
    assert tickers["BTC/USDT"]["bid"] is None and tickers["ETH/USDT"]["last"] is None


@pytest.mark.parametrize("fault", ["garbage_prices", "malformed"])
def test_unreadable_tickers_are_bad_exchange_data(emu, fault):
    client = client_for("binance")
    exchange.load_markets(client)
    emu.fail(fault, path="/api/v3/ticker/24hr")
    with pytest.raises(BadExchangeData) as caught:
        exchange.fetch_tickers(client, ["BTC/USDT", "ETH/USDT"])
    assert caught.value.status == 502 and caught.value.code == "bad_exchange_data"


def test_the_public_client_is_reused_so_markets_load_once(emu):
    exchange.fetch_tickers(public_client("binance"), ["BTC/USDT"])
    exchange.fetch_tickers(public_client("binance"), ["BTC/USDT"])
    assert emu.count("/api/v3/exchangeInfo") == 1
    assert emu.count("/api/v3/ticker/24hr") == 2


def test_it_fetches_the_order_book_and_candles(emu):
    client = client_for("binance")
    book = exchange.fetch_order_book(client, "BTC/USDT", 5)
    assert book["bids"][0][0] == 64999.99 and len(book["asks"]) == 5
    candles = exchange.fetch_ohlcv(client, "BTC/USDT", "1m", None, 3)
    assert len(candles) == 3 and candles[-1][4] == 65000.0


def test_an_unknown_market_is_bad_symbol(emu):
    with pytest.raises(BadSymbol):
        exchange.fetch_order_book(client_for("binance"), "DOGE/USDT")


# --- keys --------------------------------------------------------------------------------

def test_a_valid_key_reads_the_balance(emu):
    assert check_credentials("binance", GOOD) == {"exchange": "binance", "sandbox": False, "nonzero_assets": 3}
    assert emu.count("/api/v3/account") == 1


def test_a_wrong_secret_is_invalid_credentials_without_leaking_it(emu):
    with pytest.raises(InvalidCredentials) as caught:
        check_credentials("binance", WRONG_SECRET)
    error = caught.value
    assert (error.status, error.code) == (400, "invalid_credentials")
    assert "Signature for this request is not valid." in error.message
    assert_user_safe(error, WRONG_SECRET.secret, API_KEY)


def test_an_unknown_api_key_is_invalid_credentials(emu):
    with pytest.raises(InvalidCredentials) as caught:
        check_credentials("binance", Credentials(api_key="B" * 64, secret=SECRET))
    assert_user_safe(caught.value, "B" * 64, SECRET)


def test_an_empty_secret_is_refused_before_calling_the_exchange(emu):
    with pytest.raises(InvalidCredentials):
        check_credentials("binance", Credentials(api_key=API_KEY, secret=""))
    assert emu.count() == 0


def test_a_sandbox_key_talks_to_the_testnet_urls(emu, settings):
    overrides = overrides_for("http://127.0.0.1:9")  # the live urls lead nowhere ...
    overrides["binance"]["urls"]["test"] = emu.ccxt_overrides()["binance"]["urls"]["test"]  # ... the testnet works
    settings.CCXT_OVERRIDES = overrides
    assert check_credentials("binance", GOOD, sandbox=True)["sandbox"] is True
    with pytest.raises(ExchangeUnavailable):
        check_credentials("binance", GOOD)


def test_an_exchange_without_a_sandbox_says_so(settings):
    settings.SUPPORTED_EXCHANGES = ["binance", "luno"]
    with pytest.raises(SandboxUnavailable):
        client_for("luno", GOOD, sandbox=True)


@pytest.mark.parametrize("exchange_id", ["nosuchexchange", "bitfinex"])
def test_only_supported_exchanges_get_a_client(exchange_id, settings):
    settings.SUPPORTED_EXCHANGES = ["binance"]
    with pytest.raises(UnsupportedExchange):
        client_for(exchange_id)


def test_an_exchange_message_that_echoes_secrets_is_scrubbed():
    client = client_for("binance", GOOD)
    echo = f'binance {{"code":-2015,"msg":"key {API_KEY} refused at https://x.test/a?signature=abc"}}'
    with pytest.raises(InvalidCredentials) as caught, translate_errors(client):
        raise ccxt.AuthenticationError(echo)
    assert "refused at [url]" in caught.value.message
    assert_user_safe(caught.value, API_KEY, SECRET)


def test_credentials_never_show_their_values():
    shown = repr(GOOD) + str(GOOD) + f"{GOOD}"
    assert API_KEY not in shown and SECRET not in shown and "***" in shown


# --- outages and limits --------------------------------------------------------------------

def test_a_429_is_rate_limited_with_retry_after(emu):
    emu.fail("rate_limit", retry_after=7)
    with pytest.raises(RateLimited) as caught:
        check_credentials("binance", GOOD)
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "rate_limited", 7)
    assert "7 s" in caught.value.message


def test_a_418_ban_is_rate_limited_too(emu):
    emu.fail("ban")
    with pytest.raises(RateLimited):
        exchange.load_markets(client_for("binance"))


def test_a_stalled_exchange_times_out_within_the_configured_timeout(emu):
    emu.fail("timeout", seconds=5)
    started = time.monotonic()
    with pytest.raises(ExchangeTimeout) as caught:
        check_credentials("binance", GOOD)
    assert 0.9 < time.monotonic() - started < 2.0
    assert (caught.value.status, caught.value.code) == (504, "exchange_unavailable")
    assert_user_safe(caught.value, SECRET, API_KEY)


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_is_exchange_unavailable(emu, status):
    emu.fail("server_error", status=status)
    with pytest.raises(ExchangeUnavailable) as caught:
        exchange.load_markets(client_for("binance"))
    assert (caught.value.status, caught.value.code) == (502, "exchange_unavailable")


def test_a_signed_call_failing_mid_flight_leaks_nothing(emu, caplog):
    client = client_for("binance", GOOD)
    exchange.load_markets(client)
    emu.fail("disconnect", path="/api/v3/account")
    with caplog.at_level(logging.DEBUG), pytest.raises(ExchangeUnavailable) as caught:
        exchange.fetch_balance(client)
    assert_user_safe(caught.value, SECRET, API_KEY)
    assert SECRET not in caplog.text and API_KEY not in caplog.text and "signature=" not in caplog.text


def test_an_exchange_that_is_down_is_unavailable(closed_port, settings):
    settings.CCXT_OVERRIDES = overrides_for(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ExchangeUnavailable) as caught:
        check_credentials("binance", GOOD)
    assert caught.value.status == 502 and not isinstance(caught.value, ExchangeTimeout)
    assert_user_safe(caught.value, SECRET, API_KEY)


def test_a_server_clock_out_of_sync_is_explained(emu):
    emu.time_offset_ms = -60_000  # the exchange thinks our requests come from the future
    with pytest.raises(ExchangeUnavailable, match="clock"):
        check_credentials("binance", GOOD)


# --- orders ------------------------------------------------------------------------------

def test_orders_round_trip_through_the_adapter(emu):
    client = client_for("binance", GOOD)
    placed = exchange.create_order(client, "BTC/USDT", "limit", "buy", Decimal("0.01"), Decimal("60000"))
    assert placed["status"] == "open"
    assert [o["id"] for o in exchange.fetch_open_orders(client, "BTC/USDT")] == [placed["id"]]
    assert exchange.cancel_order(client, placed["id"], "BTC/USDT")["status"] == "canceled"
    assert exchange.fetch_order(client, placed["id"], "BTC/USDT")["status"] == "canceled"
    bought = exchange.create_order(client, "BTC/USDT", "market", "buy", Decimal("0.001"))
    assert bought["status"] == "closed" and bought["average"] == 65000.01


def test_order_refusals_map_to_order_errors(emu):
    client = client_for("binance", GOOD)
    with pytest.raises(InsufficientFunds):
        exchange.create_order(client, "BTC/USDT", "market", "buy", Decimal("1"))
    with pytest.raises(InvalidOrder):  # under the minimum notional
        exchange.create_order(client, "BTC/USDT", "limit", "buy", Decimal("0.00001"), Decimal("60000"))
    with pytest.raises(OrderNotFound):
        exchange.cancel_order(client, "424242", "BTC/USDT")
