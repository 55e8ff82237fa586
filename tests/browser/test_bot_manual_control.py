"""Manual control in a real browser (390 and 1280 px): close the position at market and cancel all orders from
the bot page, resume every halted bot from the risk panel; the buttons are in view and at least 40 px tall."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.execution.safety import bot_halt
from trading.models import Bot, Order
from trading.services.bots import bot_create, bot_start


@pytest.fixture
def replay(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _start(owner, **kw):
    args = {"name": "Stacker", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "dca",
            "params": {"interval_minutes": 1, "order_amount": "100"}, "starting_balance": Decimal("1000"), "seed": 7,
            "fill_overrides": {"reject_rate": "0"}}  # the paper venue's random rejections are seeded by the bot id
    args.update(kw)
    return bot_start(bot=bot_create(owner=owner, **args), actor=owner)


def _reachable(page, locator):
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["height"] >= 40, box


@pytest.mark.parametrize("width", [390, 1280])
def test_close_position_and_cancel_all_orders_from_the_bot_page(page, login, alice, replay, width):
    page.set_viewport_size({"width": width, "height": 900})
    bot = _start(alice)
    for _ in range(5):
        poll_and_tick()
        bot.refresh_from_db()
        if bot.base > 0:
            break
    assert bot.base > 0
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    button = page.get_by_test_id("close-position")
    _reachable(page, button)
    button.click()
    expect(page.locator(".messages")).to_contain_text("sold")
    bot.refresh_from_db()
    assert bot.base == 0
    expect(page.get_by_test_id("close-position")).to_have_count(0)  # nothing left to close

    grid = _start(alice, name="Grid", strategy="grid",
                  params={"lower": "90", "upper": "110", "levels": 5, "order_amount": "50"})
    poll_and_tick()
    assert Order.objects.filter(bot=grid, status__in=Order.OPEN_STATUSES).count() >= 2
    page.goto(f"/bots/{grid.pk}/")
    cancel = page.get_by_test_id("cancel-all-orders")
    _reachable(page, cancel)
    cancel.click()
    expect(page.get_by_test_id("no-orders")).to_be_visible()
    assert not Order.objects.filter(bot=grid, status__in=Order.OPEN_STATUSES).exists()
    assert page.js_errors == []


def test_resume_all_from_the_risk_panel(page, login, alice):
    bots = [_start(alice, name=f"B{i}") for i in range(3)]
    for b in bots:
        bot_halt(bot=b, actor=alice, reason="breaker")
    login(page, alice)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/risk/")
    button = page.get_by_test_id("resume-all")
    expect(button).to_have_text("Resume all halted bots (3)")
    _reachable(page, button)
    button.click()
    expect(page.get_by_test_id("resume-all")).to_have_count(0)
    expect(page.get_by_test_id("risk-bot-health")).to_have_count(0)  # running and nothing says otherwise
    for status in page.get_by_test_id("risk-bot-status").all():
        expect(status).to_have_text("running")
    assert set(Bot.objects.filter(owner=alice).values_list("status", flat=True)) == {"running"}
    assert page.js_errors == []
