"""A bot that cannot trade never shows "running", wherever it is shown: four started bots, one in each state
the tick can find (warming up, blocked by a risk limit, stale prices, idle on a balance below the market's
minimum order), say so on the bot list (pushed live to the open page, then as the server renders it), on the
dashboard (its badges and its running count), on the risk panel and in the API, at 390 and 1280 px; the badge
is never cut off, however long its reason."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from risk.models import RiskPolicy
from tests.bots_support import poll_and_tick, use_replay, write_recording
from tests.browser.test_layout import HIDDEN_PX
from trading.models import Market
from trading.services.bots import bot_create, bot_start

LIVE = 15_000
EXPECTED = {  # bot name -> (health state, badge text)
    "Trend": ("warming_up", "warming up: needs 8 more candles"),
    # the refusal's money at USDT's 2 decimals, the limit without the database's 18 decimal places
    "Stacker": ("blocked", "blocked: max_position: Position would be 99.90 in quote, above the limit of 50.00"),
    "Ether": ("stale_prices", "stale prices"),
    "Tiny": ("idle", "idle: balance below minimum order"),
}


@pytest.fixture
def four_bots(settings, tmp_path, alice):
    write_recording(tmp_path)  # BTC/USDT only: the ETH/USDT feed has no data, so its price is stale
    use_replay(settings, tmp_path)

    def start(name, symbol, strategy, params, balance="1000"):
        return bot_start(bot=bot_create(owner=alice, name=name, exchange="binance", symbol=symbol, strategy=strategy,
                                        params=params, starting_balance=Decimal(balance), seed=7), actor=alice)

    bots = {
        "Trend": start("Trend", "BTC/USDT", "sma_cross", {"fast": 3, "slow": 8}),
        "Stacker": start("Stacker", "BTC/USDT", "dca", {"interval_minutes": 1, "order_amount": "100"}),
        "Ether": start("Ether", "ETH/USDT", "sma_cross", {"fast": 3, "slow": 8}),
        "Tiny": start("Tiny", "BTC/USDT", "dca", {"interval_minutes": 1, "order_amount": "10"}, balance="20"),
    }
    RiskPolicy.objects.create(scope="bot", bot=bots["Stacker"], max_position_quote=Decimal("50"))
    # the exchange's markets arrive after Tiny was created: its whole wallet is below the minimum order
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT", min_cost=Decimal("25"))
    return bots


def _badge(page, testid, bot):
    return page.locator(f'[data-bot-id="{bot.pk}"]').get_by_test_id(testid)


def _says(page, testid, bots, *, timeout=5_000):
    for name, bot in bots.items():
        state, text = EXPECTED[name]
        badge = _badge(page, testid, bot)
        expect(badge).to_have_attribute("data-health", state, timeout=timeout)
        expect(badge).to_contain_text(text)
        expect(badge).not_to_have_text("running")
        assert badge.evaluate(HIDDEN_PX) <= 1, f"{name}'s badge is cut off"


@pytest.mark.parametrize("width", [390, 1280])
def test_no_list_dashboard_or_api_calls_a_bot_that_cannot_trade_running(page, login, alice, api, four_bots, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto("/bots/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    for bot in four_bots.values():  # started before their markets' first price: the first tick tells
        expect(_badge(page, "bot-status", bot)).to_have_text("running")
    poll_and_tick(symbols={"BTC/USDT", "ETH/USDT"})
    _says(page, "bot-status", four_bots, timeout=LIVE)  # pushed to the open page, no reload
    page.reload()
    _says(page, "bot-status", four_bots)  # as the server renders the list

    page.goto("/")
    expect(page.get_by_test_id("portfolio-running")).to_have_text("0 / 4")
    _says(page, "portfolio-bot-health", four_bots)
    page.goto("/risk/")
    _says(page, "risk-bot-health", four_bots)
    expect(page.get_by_test_id("risk-bot-status")).to_have_count(0)  # no "running" tag next to them

    rows = api(alice).get("/api/bots/").json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    by_id = {row["id"]: row for row in rows}
    for name, bot in four_bots.items():
        row = by_id[bot.pk]
        assert row["status"] == "running"  # the status alone would say "running": the health does not
        assert row["health"]["state"] == EXPECTED[name][0], (name, row["health"])
        assert row["health"]["label"].startswith(EXPECTED[name][1]), (name, row["health"])
        detail = api(alice).get(f"/api/bots/{bot.pk}/").json()["health"]
        assert detail == row["health"]
    assert page.js_errors == []
