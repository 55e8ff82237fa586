"""The bot form and the watchlist against the exchange's real market list (the Binance emulator, loaded
the way the platform loads it): search the markets while typing, see the market's minimum order, an
unlisted symbol refused with suggestions that fill the input, a balance below the minimum refused."""

import pytest
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot, WatchlistItem

pytestmark = pytest.mark.usefixtures("binance_markets")


def _fill_form(page, *, symbol: str, balance: str = "1000") -> None:
    page.get_by_label("Name").fill("Picker")
    page.get_by_label("Exchange").select_option("binance")
    page.get_by_label("Symbol").fill(symbol)
    page.get_by_label("Starting balance").fill(balance)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_bot_form_searches_markets_suggests_and_refuses_what_cannot_trade(page, login, alice, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto("/bots/new/")
    symbol = page.get_by_label("Symbol")
    symbol.fill("eth")
    options = page.locator("datalist option")
    expect(options).to_have_count(2)  # ETH/BTC and ETH/USDT, from GET /api/markets/
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == ["ETH/BTC", "ETH/USDT"]
    symbol.fill("ETH/USDT")
    expect(page.get_by_test_id("market-info")).to_contain_text("min order 5 USDT")

    _fill_form(page, symbol="ETH/EUR")
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator(".has-error .error").first).to_contain_text("binance does not list ETH/EUR")
    chips = page.get_by_test_id("symbol-suggestions").locator("[data-suggest]")
    expect(chips).to_have_text(["ETH/USDT", "ETH/BTC"])
    for i in range(chips.count()):
        box = chips.nth(i).bounding_box()
        assert box["height"] >= 40 and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    chips.first.click()
    expect(page.get_by_label("Symbol")).to_have_value("ETH/USDT")

    page.get_by_label("Starting balance").fill("0.000001")
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator(".has-error .error").first).to_contain_text("minimum order on ETH/USDT (5 USDT)")
    assert not Bot.objects.exists()

    page.get_by_label("Starting balance").fill("1000")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_test_id("bot-title")).to_have_text("Picker")
    assert Bot.objects.get().symbol == "ETH/USDT"
    assert page.js_errors == []


def test_the_watchlist_refuses_an_unlisted_symbol_with_suggestions_and_adds_next_to_the_defaults(
        page, login, alice, settings):
    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT", "binance:ETH/USDT"]
    login(page, alice)
    page.goto("/")
    page.get_by_label("Symbol").fill("xrp/eur")
    page.get_by_role("button", name="Watch").click()
    expect(page.locator("#watch-error")).to_contain_text("binance does not list XRP/EUR. Did you mean XRP/USDT?")
    assert not WatchlistItem.objects.exists()
    page.get_by_label("Symbol").fill("XRP/USDT")
    page.get_by_role("button", name="Watch").click()
    expect(page.locator('[data-testid="price-row"][data-symbol="XRP/USDT"]')).to_be_visible()
    expect(page.get_by_test_id("price-row")).to_have_count(3)  # BTC/USDT and ETH/USDT stay
    assert page.js_errors == []
