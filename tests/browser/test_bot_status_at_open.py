"""A bot page opened (or a bot started from it) while the bot cannot trade shows why at once, from the first
paint: stale prices, warming up, blocked by a risk limit; never "running" until a tick pushes the truth.
(A market with no price at all yet, never polled, starts "running": its first tick tells.)"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from risk.models import RiskPolicy
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.services.bots import bot_create, bot_start
from trading.services.prices import prices_poll

LIVE = 15_000


@pytest.fixture
def replay(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _sma(owner, **kw):
    return bot_create(owner=owner, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), **kw)


def _first_paint(page, url):
    """The badge as the server rendered it, before any script ran or any push arrived."""
    page.goto(url, wait_until="commit")
    html = page.evaluate("async (u) => (await fetch(u, {credentials: 'same-origin'})).text()", url)
    start = html.index('data-testid="bot-status"')
    return html[start:html.index("</span>", start)]


@pytest.mark.parametrize("width", [390, 1280])
def test_a_bot_started_from_its_page_says_warming_up_before_any_tick(page, login, alice, replay, width):
    prices_poll(exchange="binance", symbols={"BTC/USDT"})  # a fresh price and one closed candle; no tick runs
    bot = _sma(alice)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    page.locator('[data-bot-actions] button[data-action="start"]').first.click()
    badge = page.get_by_test_id("bot-status")
    expect(badge).to_have_attribute("data-health", "warming_up")
    expect(badge).to_have_text("warming up: needs 8 more candles")
    expect(badge).to_be_in_viewport()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(badge).to_have_text("warming up: needs 8 more candles")  # and nothing on load turns it into "running"
    page.goto("/bots/")
    expect(page.get_by_test_id("bot-row").get_by_test_id("bot-status")).to_have_text(
        "warming up: needs 8 more candles")
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_a_page_opened_on_a_bot_with_stale_prices_says_so_at_once(page, login, alice, replay, settings, width):
    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    settings.PRICE_STALE_AFTER_SECONDS = -1  # the stored ticker is now too old: the feed is stale
    bot = bot_start(bot=_sma(alice), actor=alice)  # no tick runs
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    first = _first_paint(page, f"/bots/{bot.pk}/")
    assert 'data-health="stale_prices"' in first and first.endswith(">stale prices")
    page.goto(f"/bots/{bot.pk}/")
    badge = page.get_by_test_id("bot-status")
    expect(badge).to_have_text("stale prices")
    expect(badge).to_have_attribute("title", re.compile(r"^stale price: "))
    expect(badge).to_be_in_viewport()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(badge).to_have_text("stale prices")
    assert page.js_errors == []


def test_a_page_opened_on_a_blocked_bot_says_blocked_from_the_first_paint(page, login, alice, replay):
    bot = bot_start(bot=bot_create(owner=alice, name="Stacker", exchange="binance", symbol="BTC/USDT",
                                   strategy="dca", params={"interval_minutes": 1, "order_amount": "100"},
                                   starting_balance=Decimal("1000")), actor=alice)
    RiskPolicy.objects.create(scope="bot", bot=bot, max_position_quote=Decimal("50"))
    poll_and_tick()  # the risk gate refuses its buy
    login(page, alice)
    first = _first_paint(page, f"/bots/{bot.pk}/")
    assert 'data-health="blocked"' in first and ">blocked: max_position: Position would be" in first
    page.goto(f"/bots/{bot.pk}/")
    badge = page.get_by_test_id("bot-status")
    expect(badge).to_have_attribute("data-health", "blocked")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(badge).to_contain_text("blocked: max_position: Position would be")
    assert page.js_errors == []
