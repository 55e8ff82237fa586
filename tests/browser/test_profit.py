"""The profit page in a browser at 390 and 1280 px: totals, the month calendar, per day / week and per
pair, all readable without sideways scrolling, controls at least 40 px."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.test_layout import HIDDEN_PX
from trading.models import Fill, Order
from trading.services.bots import bot_create

D = Decimal


def _trip(bot, buy, sell, closed_at):
    for side, price, at in (("buy", buy, closed_at - timedelta(hours=1)), ("sell", sell, closed_at)):
        order = Order.objects.create(bot=bot, client_id=f"{side}:{at.timestamp()}", side=side, type="market",
                                     amount=D("1"), status="filled", filled=D("1"))
        Fill.objects.create(bot=bot, order=order, side=side, price=D(price), amount=D("1"), fee=D("0"),
                            fee_currency="USDT", liquidity="taker", ts=at)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_profit_page_shows_totals_calendar_periods_and_pairs(page, login, alice, width):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    btc = bot_create(owner=alice, name="one", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("1000"))
    eth = bot_create(owner=alice, name="two", exchange="binance", symbol="ETH/BTC", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("1"))
    _trip(btc, "100", "112.5", now)
    _trip(eth, "0.05", "0.0512345", now)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profit").click()
    expect(page).to_have_title("Profit · Trading platform")

    totals = page.get_by_test_id("profit-totals")
    expect(totals.locator('[data-currency="USDT"] [data-field="today"]')).to_have_text("+12.50")
    expect(totals.locator('[data-currency="BTC"] [data-field="today"]')).to_have_text("+0.00123450")  # 8 decimals
    today = page.locator(f'[data-testid="calendar-day"][data-date="{now.date().isoformat()}"]')
    expect(today.locator('[data-currency="USDT"]')).to_contain_text("+12.50")
    expect(page.get_by_test_id("calendar-day")).to_have_count(
        len([d for d in range(1, 32) if _valid(now.year, now.month, d)]))
    expect(page.get_by_test_id("pair-row")).to_have_count(2)
    expect(page.locator(f'[data-testid="period-row"][data-start="{now.date().isoformat()}"][data-currency="USDT"] '
                        '[data-field="pnl"]')).to_have_text("+12.50")

    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for el in [*page.get_by_test_id("calendar-day").all(), *page.get_by_test_id("pair-row").locator("td").all()]:
        assert el.evaluate(HIDDEN_PX) <= 1
    for control in page.locator(".tabs .button, .cal-head .button").all():
        assert control.bounding_box()["height"] >= 40

    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.get_by_test_id("profit-periods").get_by_role("heading")).to_have_text("By week")
    expect(page.get_by_test_id("period-row").first).to_contain_text("Week of")
    page.get_by_role("link", name="Previous month").click()
    expect(page.get_by_test_id("calendar-month")).not_to_have_text(now.strftime("%B %Y"))
    assert page.js_errors == []


def _valid(y, m, d):
    try:
        datetime(y, m, d)
    except ValueError:
        return False
    return True
