"""The bot page's "Backtest these settings" card in a real browser: run the bot's own backtest over the
stored candles, see the same stats and trades as the service, and an equity chart actually drawn on the
canvas; a narrower range; a range too short for the strategy shows the server's message."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.bots_support import recording_bars, write_recording
from trading.services.backtests import bot_backtest
from trading.services.bots import bot_create
from trading.services.candles import candles_store

RUN = 20_000  # ms: a loaded 2-core machine; the run itself takes well under a second

# Pixels of the curve: the stroke colours the card draws with (green above the start, red below).
COUNT_CURVE_PIXELS = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let painted = 0, curve = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    painted++;
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if ((Math.abs(r - 0x3f) < 12 && Math.abs(g - 0xb9) < 12 && Math.abs(b - 0x50) < 12) ||
        (Math.abs(r - 0xf8) < 12 && Math.abs(g - 0x51) < 12 && Math.abs(b - 0x49) < 12)) curve++;
  }
  return {painted, curve, width: c.width, height: c.height};
}"""


@pytest.fixture
def bars(tmp_path):
    series = recording_bars(write_recording(tmp_path, bars=240))
    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=series)
    return series


@pytest.fixture
def bot(alice):
    return bot_create(owner=alice, name="Wave rider", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7)


def local(ms: int) -> str:
    """The value a datetime-local input holds for a candle time (the card reads it as UTC)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M")


def shown(locator) -> Decimal:
    """The number a stat shows ("+1,234.56 %" -> 1234.56)."""
    return Decimal(locator.inner_text().replace("%", "").replace(",", "").replace("+", "").strip())


def run(page):
    page.get_by_test_id("backtest-run").click()
    expect(page.locator("#backtest-card")).to_have_attribute("data-state", "done", timeout=RUN)


def test_run_the_bots_backtest_and_see_stats_trades_and_a_drawn_chart(page, login, alice, bot, bars):
    expected = bot_backtest(bot=bot)
    assert expected["closed_trades"] >= 3
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    card = page.get_by_test_id("backtest-card")
    expect(card).to_be_visible()
    expect(page.get_by_test_id("backtest-results")).to_be_hidden()
    blank = page.evaluate(COUNT_CURVE_PIXELS, "bt-chart")
    assert blank["curve"] == 0

    card.scroll_into_view_if_needed()
    run(page)
    expect(page.get_by_test_id("bt-card-closed")).to_have_text(str(expected["closed_trades"]))
    for name, places in (("return_pct", 2), ("final_equity", 2), ("fees_paid", 4)):
        value = shown(card.locator(f'[data-bt="{name}"]'))  # rounded for display
        assert abs(value - Decimal(expected[name])) <= Decimal(6) / 10 ** (places + 1), name
    expect(page.get_by_test_id("backtest-range")).to_contain_text("240 1m candles of BTC/USDT")
    rows = page.locator('[data-testid="bt-card-trade"]')
    expect(rows).to_have_count(len(expected["trades"]) + len(expected["open_trades"]))
    first = expected["trades"][0]
    expect(rows.first).to_contain_text(first["entry_time"].replace("T", " ").removesuffix("Z"))

    drawn = page.evaluate(COUNT_CURVE_PIXELS, "bt-chart")
    assert drawn["width"] > 300 and drawn["height"] > 100
    assert drawn["curve"] > 200, drawn  # an equity line of several hundred pixels, not a blank canvas
    assert drawn["painted"] > drawn["curve"]  # plus labels, the dashed start line and the fill
    assert page.js_errors == []

    # a narrower range: 100 candles, stats of that window
    page.get_by_label("From (UTC)").fill(local(bars[100].ts_ms))
    page.get_by_label("To (UTC)").fill(local(bars[199].ts_ms))
    window = bot_backtest(bot=bot, start=datetime.fromtimestamp(bars[100].ts_ms / 1000, tz=UTC),
                          end=datetime.fromtimestamp(bars[199].ts_ms / 1000, tz=UTC))
    run(page)
    expect(page.get_by_test_id("backtest-range")).to_contain_text("100 1m candles of BTC/USDT")
    expect(page.get_by_test_id("bt-card-closed")).to_have_text(str(window["closed_trades"]))
    assert page.js_errors == []


def test_a_range_too_short_for_the_strategy_shows_why(page, login, alice, bot, bars):
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    page.get_by_label("To (UTC)").fill(local(bars[4].ts_ms))
    page.get_by_test_id("backtest-run").click()
    error = page.get_by_test_id("backtest-card-error")
    expect(error).to_be_visible(timeout=RUN)
    expect(error).to_contain_text("Only 5 1m candles")
    expect(error).to_contain_text("needs at least 10")
    expect(page.get_by_test_id("backtest-results")).to_be_hidden()
    # and the start after the end is refused too
    page.get_by_label("From (UTC)").fill(local(bars[50].ts_ms))
    page.get_by_label("To (UTC)").fill(local(bars[40].ts_ms))
    page.get_by_test_id("backtest-run").click()
    expect(error).to_contain_text("Must be after the start")
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_a_run_with_no_trades_says_why_and_never_contradicts_itself(page, login, alice, bars, width):
    """Every order refused by a risk limit: the card says the strategy wanted to trade and names the refusals,
    never "the strategy never signalled"; a strategy that never signals says that, with no refusals."""
    from risk.models import RiskPolicy

    blocked = bot_create(owner=alice, name="Stacker", exchange="binance", symbol="BTC/USDT", strategy="dca",
                         params={"interval_minutes": 1, "order_amount": "100"}, starting_balance=Decimal("1000"),
                         seed=7)
    RiskPolicy.objects.create(scope="bot", bot=blocked, max_position_quote=Decimal("50"))
    quiet = bot_create(owner=alice, name="Quiet", exchange="binance", symbol="BTC/USDT", strategy="rsi",
                       params={"period": 14, "oversold": "1", "overbought": "99"}, starting_balance=Decimal("1000"),
                       seed=7)
    expected = bot_backtest(bot=blocked)
    assert expected["closed_trades"] == 0 and expected["rejects"].get("max_position", 0) > 0
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)

    page.goto(f"/bots/{blocked.pk}/")
    page.get_by_test_id("backtest-card").scroll_into_view_if_needed()
    run(page)
    card = page.get_by_test_id("backtest-card")
    refused = expected["rejects"]["max_position"]
    expect(page.get_by_test_id("backtest-card-trades")).to_contain_text(
        f"the strategy wanted to trade, but every order was refused ({refused} refused")
    expect(card).to_contain_text(f"refused orders: max_position × {refused}")
    expect(card).not_to_contain_text("never signalled")
    expect(page.get_by_test_id("bt-card-closed")).to_have_text("0")

    page.goto(f"/bots/{quiet.pk}/")
    run(page)
    expect(page.get_by_test_id("backtest-card-trades")).to_contain_text("the strategy never signalled")
    expect(card).not_to_contain_text("refused")
    assert page.js_errors == []
