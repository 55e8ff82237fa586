"""The bot page's chart draws its strategy's indicators as the API serves them (the engine's values): SMA lines
for sma_cross, an RSI pane with its levels for rsi, grid lines for grid, the open deal's base/safety/take-profit
levels for dca; the chart follows the bot live; at 390 and 1280 px it fits the screen."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.api.serializers import exact_decimal
from trading.engine.strategies.base import sma
from trading.engine.types import Bar
from trading.events import bot_json, events_publish
from trading.models import Bot, Candle
from trading.services.bots import bot_create

D = Decimal
LIVE = 15_000
pytestmark = pytest.mark.usefixtures("binance_markets")  # BTC/USDT prices at 0.01
DRAWN = "() => window.BotPriceChart && window.BotPriceChart.drawn"


def _candles(n=80):
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=n - 1)
    closes = [D(65000) + D((i * 37) % 23) * 5 - D(i % 4) * 3 for i in range(n)]
    rows = [Candle(exchange="binance", symbol="BTC/USDT", timeframe="1m", ts=start + timedelta(minutes=i),
                   open=closes[i - 1] if i else closes[0], high=closes[i] + 4, low=closes[i] - 6, close=closes[i],
                   volume=D(1)) for i in range(n)]
    Candle.objects.bulk_create(rows)
    return rows


def _open(page, login, user, bot, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(page, user)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("price-note")).to_contain_text("candles")
    page.wait_for_function(DRAWN)
    box = page.locator("#price-chart").bounding_box()
    assert box["width"] > 200 and box["x"] >= 0 and box["x"] + box["width"] <= width
    return _drawn(page)


def _drawn(page):
    """What the page drew, and the API answer (GET /api/bots/{id}/chart/) it drew it from."""
    return page.evaluate("() => [window.BotPriceChart.drawn, window.BotPriceChart.api]")


def _closed(api):
    return [Bar(c["t"], D(c["open"]), D(c["high"]), D(c["low"]), D(c["close"]), D(c["volume"]))
            for c in api["candles"] if c["closed"]]


def _in_view(points, candles):
    shown = {c["t"] for c in candles}
    return sum(1 for p in points if p["t"] in shown)


@pytest.mark.parametrize("width", [390, 1280])
def test_sma_lines_are_drawn_from_the_engines_values_and_follow_the_bot_live(page, login, alice, width):
    rows = _candles()
    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("10000"))
    drawn, api = _open(page, login, alice, bot, width)
    fast, slow = api["indicators"]["lines"]
    assert drawn["lines"] == {"sma_fast": _in_view(fast["points"], api["candles"]),
                              "sma_slow": _in_view(slow["points"], api["candles"])}
    closed = _closed(api)  # 79 (80 if a minute turned since the candles were stored)
    assert drawn["lines"] == {"sma_fast": len(closed) - 2, "sma_slow": len(closed) - 7}  # each candle with history
    assert fast["points"][-1] == {"t": closed[-1].ts_ms, "v": exact_decimal(sma(closed, 3))}  # the engine's value
    assert drawn["pane"] is None and page.get_by_test_id("indicator-pane").is_hidden()
    legend = page.get_by_test_id("chart-legend")
    expect(legend.locator('[data-key="sma_fast"]')).to_have_text(f"SMA 3 {sma(closed, 3):.2f}")
    expect(legend.locator('[data-key="sma_slow"]')).to_have_text(f"SMA 8 {sma(closed, 8):.2f}")

    # the newest closed candles move (late trades); the tick's push of the bot redraws with new values
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    before = legend.locator('[data-key="sma_fast"]').inner_text()
    Candle.objects.filter(pk__in=[r.pk for r in rows[-3:]]).update(close=D("65300"))
    events_publish([(alice.pk, {"type": "bot", "bot": bot_json(Bot.objects.get(pk=bot.pk))})])
    expect(legend.locator('[data-key="sma_fast"]')).not_to_have_text(before, timeout=LIVE)
    drawn, api = _drawn(page)
    closed = _closed(api)
    assert closed[-1].close == D("65300")
    expect(legend.locator('[data-key="sma_fast"]')).to_have_text(f"SMA 3 {sma(closed, 3):.2f}")
    assert api["indicators"]["lines"][0]["points"][-1]["v"] == exact_decimal(sma(closed, 3))
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_the_rsi_pane_is_drawn_with_its_levels(page, login, alice, width):
    _candles()
    bot = bot_create(owner=alice, name="Swing", exchange="binance", symbol="BTC/USDT", strategy="rsi",
                     params={"period": 14, "oversold": "25", "overbought": "75"}, starting_balance=D("10000"))
    drawn, api = _open(page, login, alice, bot, width)
    pane = api["indicators"]["pane"]
    expect(page.get_by_test_id("indicator-pane")).to_be_visible()
    box = page.get_by_test_id("indicator-pane").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] >= 100
    assert drawn["pane"]["points"] == _in_view(pane["points"], api["candles"]) == len(_closed(api)) - 14
    levels = drawn["pane"]["levels"]
    assert set(levels) == {"oversold", "overbought"} and levels["overbought"] < levels["oversold"]  # 75 above 25
    last = D(pane["points"][-1]["v"])
    expect(page.get_by_test_id("chart-legend").locator('[data-key="rsi"]')).to_have_text(
        f"RSI 14 {last:.2f} · oversold 25 · overbought 75")
    painted = page.evaluate("""() => { const c = document.getElementById('indicator-pane');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")
    assert painted > 300  # the RSI line and its levels are on the canvas
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_grid_lines_and_dca_levels_are_drawn(page, login, alice, width):
    _candles()
    grid = bot_create(owner=alice, name="Grid", exchange="binance", symbol="BTC/USDT", strategy="grid",
                      params={"lower": "64900", "upper": "65200", "levels": 4, "order_amount": "100"},
                      starting_balance=D("10000"))
    drawn, api = _open(page, login, alice, grid, width)
    assert [lv["price"] for lv in api["indicators"]["levels"]] == ["64900", "65000", "65100", "65200"]
    ys = drawn["levels"]
    assert list(ys) == ["grid_0", "grid_1", "grid_2", "grid_3"]
    assert ys["grid_0"] > ys["grid_1"] > ys["grid_2"] > ys["grid_3"]  # evenly spaced, upwards
    assert abs((ys["grid_0"] - ys["grid_1"]) - (ys["grid_2"] - ys["grid_3"])) < 0.5
    expect(page.get_by_test_id("chart-legend").locator('[data-key="grid_3"]')).to_have_text("grid line 3 65200.00")

    dca = bot_create(owner=alice, name="Stack", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"order_amount": "100", "take_profit_pct": "1", "safety_step_pct": "0.2",
                             "safety_max_count": 2}, starting_balance=D("10000"))
    Bot.objects.filter(pk=dca.pk).update(base=D("0.003"), state={
        "engine": {"avg_price": "65050"}, "strategy": {"deal_ref": "65100", "safety_used": 1}})
    page.goto(f"/bots/{dca.pk}/")
    page.wait_for_function("() => window.BotPriceChart && window.BotPriceChart.api && "
                           "window.BotPriceChart.api.strategy === 'dca' && window.BotPriceChart.drawn")
    drawn, _api = _drawn(page)
    assert list(drawn["levels"]) == ["dca_base", "dca_safety_1", "dca_safety_2", "dca_take_profit"]
    assert drawn["levels"]["dca_take_profit"] < drawn["levels"]["dca_base"] < drawn["levels"]["dca_safety_1"]
    legend = page.get_by_test_id("chart-legend")
    expect(legend.locator('[data-key="dca_base"]')).to_have_text("base entry 65100.00")
    expect(legend.locator('[data-key="dca_safety_1"]')).to_have_text("safety order 1 (filled) 64969.80")
    expect(legend.locator('[data-key="dca_take_profit"]')).to_have_text("take profit 65700.50")
    assert page.js_errors == []
