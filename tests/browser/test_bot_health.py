"""The health badge in a real browser: a started bot that is still warming up or is blocked by a risk limit
never shows "running" (detail page, bot list, dashboard), and the badge follows the tick live."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from risk.models import RiskPolicy
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.services.bots import bot_create, bot_start

LIVE = 15_000


@pytest.fixture
def replay(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


@pytest.mark.parametrize("width", [390, 1280])
def test_the_badge_says_warming_up_then_running_live_and_the_dashboard_counts_only_trading_bots(
        page, login, alice, replay, width):
    page.set_viewport_size({"width": width, "height": 900})
    bot = bot_start(bot=bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT",
                                   strategy="sma_cross", params={"fast": 3, "slow": 8},
                                   starting_balance=Decimal("1000")), actor=alice)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    badge = page.get_by_test_id("bot-status")
    expect(badge).to_have_text("running")  # started before its market's first price: the first tick tells
    poll_and_tick()
    expect(badge).to_have_text("warming up: needs 8 more candles", timeout=LIVE)  # pushed, no reload
    expect(badge).to_have_attribute("data-health", "warming_up")
    expect(badge).to_be_in_viewport()

    page.goto("/bots/")
    expect(page.get_by_test_id("bot-row").get_by_test_id("bot-status")).to_have_text(
        "warming up: needs 8 more candles")
    page.goto("/")
    expect(page.get_by_test_id("portfolio-running")).to_have_text("0 / 1")
    expect(page.get_by_test_id("portfolio-bot-health")).to_have_text("warming up: needs 8 more candles")
    for _ in range(8):
        poll_and_tick()
    expect(page.get_by_test_id("portfolio-bot-health")).to_have_text("running", timeout=LIVE)
    expect(page.get_by_test_id("portfolio-running")).to_have_text("1 / 1", timeout=LIVE)
    assert page.js_errors == []


def test_a_bot_blocked_by_its_position_limit_shows_the_reason_on_the_list(page, login, alice, replay):
    bot = bot_start(bot=bot_create(owner=alice, name="Stacker", exchange="binance", symbol="BTC/USDT",
                                   strategy="dca", params={"interval_minutes": 1, "order_amount": "100"},
                                   starting_balance=Decimal("1000")), actor=alice)
    RiskPolicy.objects.create(scope="bot", bot=bot, max_position_quote=Decimal("50"))
    login(page, alice)
    page.goto("/bots/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    poll_and_tick()
    badge = page.get_by_test_id("bot-row").get_by_test_id("bot-status")
    expect(badge).to_have_attribute("data-health", "blocked", timeout=LIVE)
    expect(badge).to_contain_text("blocked: max_position: Position would be")
    assert page.js_errors == []
