"""The bot page's candle chart: the market's stored 1m candles with the bot's fills marked (the dashboard's
chart code), a new fill marked live; at 390 and 1280 px the chart fits the screen."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.events import events_publish, fill_json
from trading.models import Candle, Fill, Order
from trading.services.bots import bot_create

D = Decimal
LIVE = 15_000
pytestmark = pytest.mark.usefixtures("binance_markets")  # BTC/USDT prices at 0.01


def _fill(bot, side, price, at):
    order = Order.objects.create(bot=bot, client_id=f"t:{side}:{at.timestamp()}", side=side, type="market",
                                 amount=D("0.01"), status="filled", filled=D("0.01"))
    return Fill.objects.create(bot=bot, order=order, side=side, price=D(price), amount=D("0.01"), fee=D("0"),
                               fee_currency="USDT", liquidity="taker", ts=at)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_price_chart_marks_the_bots_fills(page, login, alice, width):
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=59)
    Candle.objects.bulk_create([
        Candle(exchange="binance", symbol="BTC/USDT", timeframe="1m", ts=start + timedelta(minutes=i),
               open=D(65000 + i), high=D(65010 + i), low=D(64990 + i), close=D(65005 + i), volume=D("1"))
        for i in range(60)])
    bot = bot_create(owner=alice, name="Chart", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("10000"))
    _fill(bot, "buy", "65010", start + timedelta(minutes=10, seconds=5))
    _fill(bot, "sell", "65040", start + timedelta(minutes=40, seconds=5))
    _fill(bot, "buy", "60000", start - timedelta(days=2))  # long before the candles shown: not marked
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("price-note")).to_have_text("60 candles · last 65064.00 · 2 fills in view")
    box = page.locator("#price-chart").bounding_box()
    assert box["width"] > 200 and box["x"] >= 0 and box["x"] + box["width"] <= width
    painted = page.evaluate("""() => { const c = document.getElementById('price-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")
    assert painted > 500  # candles were drawn

    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    fill = _fill(bot, "buy", "65050", now - timedelta(seconds=30))
    events_publish([(alice.pk, {"type": "fill", "fill": fill_json(fill)})])
    expect(page.get_by_test_id("price-note")).to_have_text("60 candles · last 65064.00 · 3 fills in view",
                                                           timeout=LIVE)
    assert page.js_errors == []
