"""The bot page in a browser: the open position and the closed trades, at 390 and 1280 px, every cell
readable without sideways scrolling, and both refreshed live when a fill arrives over /ws/events/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_layout import HIDDEN_PX
from tests.emulator.fixtures import *  # noqa: F403
from trading.events import events_publish, fill_json
from trading.models import Bot, Fill, Order
from trading.services.bots import bot_create

LIVE = 15_000
D = Decimal
pytestmark = pytest.mark.usefixtures("binance_markets")


def _fill(bot, side, price, amount, at):
    order = Order.objects.create(bot=bot, client_id=f"t:{side}:{at.timestamp()}", side=side, type="market",
                                 amount=D(amount), status="filled", filled=D(amount))
    return Fill.objects.create(bot=bot, order=order, side=side, price=D(price), amount=D(amount), fee=D("0"),
                               fee_currency="USDT", liquidity="taker", ts=at)


@pytest.mark.parametrize("width", [390, 1280])
def test_open_position_and_closed_trades_show_and_follow_fills_live(page, login, alice, width):
    page.set_viewport_size({"width": width, "height": 900})
    bot = bot_create(owner=alice, name="Deals", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("10000"))
    t0 = timezone.now() - timedelta(hours=3)
    _fill(bot, "buy", "60000", "0.1", t0)
    Bot.objects.filter(pk=bot.pk).update(base=D("0.1"), quote=D("4000"), last_price=D("61000"))
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    position = page.get_by_test_id("position-row")
    expect(position.locator('[data-field="amount"]')).to_have_text("0.10000")
    expect(position.locator('[data-field="entry"]')).to_have_text("60000.00")
    expect(position.locator('[data-field="unrealized"]')).to_contain_text("+100.00")
    assert position.locator('[data-field="duration"]').inner_text() in ("3 h", "2 h 59 min")
    expect(page.get_by_test_id("no-closed-trades")).to_be_visible()
    for cell in position.locator("td").all():
        assert cell.evaluate(HIDDEN_PX) <= 1, "a position cell needs sideways scrolling"
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")

    sell = _fill(bot, "sell", "63000", "0.1", t0 + timedelta(hours=2))
    Bot.objects.filter(pk=bot.pk).update(base=D("0"), quote=D("10300"))
    events_publish([(alice.pk, {"type": "fill", "fill": fill_json(sell)})])
    closed = page.get_by_test_id("closed-trade-row")
    expect(closed).to_have_count(1, timeout=LIVE)
    expect(closed.locator('[data-field="pnl"]')).to_contain_text("+300.00")
    expect(closed.locator('[data-field="duration"]')).to_have_text("2 h")
    expect(page.get_by_test_id("position-row")).to_have_count(0)
    expect(page.get_by_test_id("no-position")).to_be_visible()
    for cell in closed.locator("td").all():
        assert cell.evaluate(HIDDEN_PX) <= 1, "a closed-trade cell needs sideways scrolling"
    assert page.js_errors == []
