"""The bot form's candle timeframe in a real browser: chosen on create, shown on the bot page (its chart and
its backtest default to it), listed only where the exchange offers it (ccxt's timeframes; a choice the exchange
lacks moves down to one it has, saying so), refused with a field error when posted anyway, fixed while the bot
runs; at 390 and 1280 px."""

import pytest
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.services.bots import bot_start

pytestmark = pytest.mark.usefixtures("binance_markets")


def _fill(page, exchange="binance"):
    page.get_by_label("Name").fill("Slow trend")
    page.get_by_label("Exchange").select_option(exchange)
    page.get_by_label("Symbol").fill("BTC/USDT")
    page.get_by_label("Starting balance").fill("1000")
    page.get_by_label("Strategy").select_option("sma_cross")
    page.locator('input[name="params-sma_cross-fast"]').fill("3")
    page.locator('input[name="params-sma_cross-slow"]').fill("8")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_timeframe_is_chosen_on_the_form_and_used_by_the_page(page, login, alice, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(page, alice)
    page.goto("/bots/new/")
    field = page.get_by_label("Candle timeframe")
    expect(field).to_have_value("1m")
    offered = field.locator("option:not([disabled])")
    assert offered.all_inner_texts() == ["1m", "5m", "15m", "30m", "1h", "4h"]  # binance (ccxt) has them all
    field.select_option("4h")
    _fill(page, exchange="coinbase")  # coinbase has no 4h candles (ccxt): not listed, the choice moves down
    expect(field).to_have_value("1h")
    expect(page.get_by_test_id("timeframe-note")).to_have_text("coinbase has no 4h candles: 1h chosen.")
    assert offered.all_inner_texts() == ["1m", "5m", "15m", "30m", "1h"]
    expect(field.locator('option[value="4h"]')).to_be_hidden()
    # whatever posts it anyway (an old page, a script) gets the server's field error
    page.evaluate("""() => { const o = document.querySelector('#id_timeframe option[value="4h"]');
                            o.disabled = false; o.hidden = false; o.selected = true; }""")
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator(".field.has-error")).to_contain_text("coinbase does not offer 4h candles")
    expect(page.get_by_label("Candle timeframe")).to_have_value("4h")  # what was chosen is kept
    assert not Bot.objects.exists()

    page.get_by_label("Exchange").select_option("binance")
    page.get_by_label("Symbol").fill("BTC/USDT")
    page.get_by_label("Candle timeframe").select_option("5m")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_test_id("bot-title")).to_have_text("Slow trend")
    bot = Bot.objects.get()
    assert bot.timeframe == "5m"
    expect(page.get_by_test_id("chart-timeframe")).to_have_text("5m")
    expect(page.locator("#bt-timeframe")).to_have_value("5m")  # the backtest replays the bot's candles
    chart = page.evaluate(f"async () => (await fetch('/api/bots/{bot.pk}/chart/')).json()")
    assert chart["timeframe"] == "5m"

    bot_start(bot=bot, actor=alice)
    page.goto(f"/bots/{bot.pk}/edit/")
    expect(page.get_by_label("Candle timeframe")).to_be_disabled()
    expect(page.get_by_label("Candle timeframe")).to_have_value("5m")
    assert page.js_errors == []
