"""A bot page in the browser shows numbers at the market's precision, also for fills pushed live over
/ws/events/ (rendered by the page's JavaScript, not the template)."""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.events import events_publish, fill_json
from trading.models import Fill, Order
from trading.services.bots import bot_create

LIVE = 15_000

pytestmark = pytest.mark.usefixtures("binance_markets")


@pytest.mark.parametrize("width", [390, 1280])
def test_a_live_fill_is_shown_at_the_markets_precision(page, login, alice, width):
    page.set_viewport_size({"width": width, "height": 900})
    bot = bot_create(owner=alice, name="Precise", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("10000"))
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.locator('[data-stat="cash"]')).to_have_text("10,000.00")

    order = Order.objects.create(bot=bot, client_id="t:1", side="buy", type="market",
                                 amount=Decimal("0.076923076923076923"), status="filled")
    fill = Fill.objects.create(bot=bot, order=order, side="buy", price=Decimal("65000.014999999"),
                               amount=Decimal("0.076923076923076923"), fee=Decimal("0.000076923076923077"),
                               fee_currency="BTC", slippage=Decimal("0.0015"), liquidity="taker", ts=timezone.now())
    events_publish([(alice.pk, {"type": "fill", "fill": fill_json(fill)})])
    row = page.get_by_test_id("trade-row").first
    expect(row.get_by_role("cell").nth(2)).to_have_text("65000.01", timeout=LIVE)
    expect(row.get_by_role("cell").nth(3)).to_have_text("0.07692")
    expect(row.get_by_role("cell").nth(4)).to_have_text("5,000.00")
    assert page.js_errors == []
