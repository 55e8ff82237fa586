"""The bot form's validation: every bad input comes back as a clear message next to its field, no 500,
nothing saved; order cancel is owner-only."""

from decimal import Decimal

import pytest
from django.test import Client

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot, Order
from trading.services.bots import bot_create

# the Binance emulator's markets (BTC/USDT, ETH/USDT, ETH/BTC, LTC/BTC, XRP/USDT; min order 5 USDT)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]

GOOD = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "starting_balance": "1000",
        "strategy": "sma_cross", "params-sma_cross-fast": "3", "params-sma_cross-slow": "8",
        "params-sma_cross-size_pct": "100"}


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _errors(html: str) -> str:
    import re

    return " | ".join(re.findall(r'class="error"[^>]*>([^<]*)<', html) +
                      re.findall(r'role="alert"[^>]*>\s*<p>([^<]*)<', html))


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "This field is required."),
    ({"symbol": "BTCUSDT"}, "Write the market as BASE/QUOTE"),
    ({"starting_balance": "0"}, "Must be greater than 0."),
    ({"starting_balance": "lots"}, "Enter a number."),
    ({"exchange": "nosuchexchange"}, "Select a valid choice."),
    ({"strategy": "martingale"}, "Select a valid choice."),
    ({"params-sma_cross-fast": "3.5"}, "must be a whole number"),
    ({"params-sma_cross-slow": "99999"}, "must be at most 2000"),
    ({"params-sma_cross-fast": "9"}, "must be less than slow"),
    ({"params-sma_cross-size_pct": "0"}, "must be greater than 0"),
    ({"strategy": "grid", "params-grid-levels": "5"}, "this parameter is required"),
])
def test_bad_input_is_explained_next_to_the_field_and_nothing_is_saved(alice, change, message):
    r = _client(alice).post("/bots/new/", {**GOOD, **change})
    assert r.status_code == 200
    assert message in _errors(r.content.decode()), _errors(r.content.decode())
    assert "Nothing was saved: please correct the marked fields below." in r.content.decode()  # atop the form
    assert not Bot.objects.exists()


def test_a_market_the_exchange_does_not_list_is_refused_with_suggestions(alice):
    r = _client(alice).post("/bots/new/", {**GOOD, "symbol": "ETH/EUR"})
    html = r.content.decode()
    assert "binance does not list ETH/EUR." in _errors(html)
    assert 'data-suggest="ETH/USDT"' in html and 'data-suggest="ETH/BTC"' in html
    assert 'value="ETH/EUR"' in html  # what was typed stays
    assert not Bot.objects.exists()


def test_markup_as_a_symbol_is_refused_and_shown_escaped(alice):
    r = _client(alice).post("/bots/new/", {**GOOD, "symbol": "<script>alert(1)</script>"})
    html = r.content.decode()
    assert "Write the market as BASE/QUOTE" in _errors(html) and "<script>alert(1)" not in html
    r = _client(alice).post("/bots/new/", {**GOOD, "symbol": "SCRIPT/X"})  # well-formed but unlisted
    assert "binance does not list SCRIPT/X" in _errors(r.content.decode())
    assert not Bot.objects.exists()


def test_a_starting_balance_below_the_minimum_order_is_refused_on_the_page(alice):
    r = _client(alice).post("/bots/new/", {**GOOD, "starting_balance": "0.000001"})
    assert "minimum order on BTC/USDT (5 USDT)" in _errors(r.content.decode())
    assert not Bot.objects.exists()


def test_a_good_form_creates_a_paper_bot_and_opens_it(alice):
    assert "Nothing was saved" not in _client(alice).get("/bots/new/").content.decode()
    r = _client(alice).post("/bots/new/", GOOD)
    bot = Bot.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/bots/{bot.pk}/"
    assert (bot.owner, bot.mode, bot.status, bot.params) == (alice, "paper", "stopped", {
        "fast": 3, "slow": 8, "size_pct": "100", "stop_loss_pct": "0", "take_profit_pct": "0",
        "trailing_stop_pct": "0"})


def test_only_the_owner_can_cancel_an_order(alice, bob):
    bot = bot_create(owner=alice, name="Grid", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     starting_balance=Decimal("1000"))
    order = Order.objects.create(bot=bot, client_id="1:0", side="buy", type="limit", amount=Decimal("1"),
                                 price=Decimal("90"), status="open")
    assert _client(bob).post(f"/bots/{bot.pk}/orders/{order.pk}/cancel/").status_code == 404
    order.refresh_from_db()
    assert order.status == "open"
    other = bot_create(owner=bob, name="Bob's", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                       starting_balance=Decimal("1000"))
    # bob's own bot id with alice's order id is still a 404
    assert _client(bob).post(f"/bots/{other.pk}/orders/{order.pk}/cancel/").status_code == 404


def test_unsafe_next_urls_are_ignored(alice):
    bot = bot_create(owner=alice, name="T", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     starting_balance=Decimal("1000"))
    r = _client(alice).post(f"/bots/{bot.pk}/pause/", {"next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == f"/bots/{bot.pk}/"


def test_a_running_bots_form_with_an_error_still_shows_its_saved_parameters(alice):
    from trading.services.bots import bot_start

    bot = bot_create(owner=alice, name="T", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 4, "slow": 12}, starting_balance=Decimal("1000"))
    bot_start(bot=bot, actor=alice)
    r = _client(alice).post(f"/bots/{bot.pk}/edit/", {"name": ""})  # the disabled inputs are not posted
    html = r.content.decode()
    assert r.status_code == 200 and "This field is required." in _errors(html)
    assert 'name="params-sma_cross-fast" id="id_params-sma_cross-fast" value="4"' in html
    assert 'name="params-sma_cross-slow" id="id_params-sma_cross-slow" value="12"' in html
    bot.refresh_from_db()
    assert (bot.name, bot.params["fast"]) == ("T", 4)


def test_the_list_says_why_a_running_bot_is_idle(alice):
    from trading.services.bots import bot_start

    bot = bot_create(owner=alice, name="T", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     starting_balance=Decimal("1000"))
    bot_start(bot=bot, actor=alice)
    Bot.objects.filter(pk=bot.pk).update(last_tick_note="stale price: exchange timed out")
    html = _client(alice).get("/bots/").content.decode()
    assert "stale price: exchange timed out" in html


def test_a_symbol_written_without_the_slash_is_resolved_or_suggested(alice):
    r = _client(alice).post("/bots/new/", {**GOOD, "symbol": "ethusdt"})
    html = r.content.decode()
    assert "Write the market as BASE/QUOTE, e.g. BTC/USDT. Did you mean ETH/USDT?" in _errors(html)
    assert 'data-suggest="ETH/USDT"' in html
    r = _client(alice).post("/bots/new/", {**GOOD, "symbol": "eth-usdt"})
    assert r.status_code == 302 and Bot.objects.get().symbol == "ETH/USDT"
