"""A backtest on a fresh install in a real browser: no candle stored, the card fetches the history from the
exchange (the Binance emulator), shows the fetch's progress, then the result; the second run reuses it."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Candle
from trading.services.bots import bot_create

RUN = 30_000


@pytest.fixture
def bot(alice, binance_markets):
    return bot_create(owner=alice, name="Fresh", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                      params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_first_backtest_fetches_history_with_progress_and_the_second_reuses_it(page, login, alice, bot,
                                                                                  binance_markets, width):
    assert not Candle.objects.exists()
    page.set_viewport_size({"width": width, "height": 900})
    # each klines page takes a while, as a real exchange's would: the progress is on screen meanwhile
    binance_markets.fail("timeout", path="/api/v3/klines", times=2, seconds=1.5)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    card = page.get_by_test_id("backtest-card")
    card.scroll_into_view_if_needed()
    page.get_by_test_id("backtest-run").click()
    expect(page.locator("#bt-status")).to_contain_text("Fetching history from the exchange", timeout=RUN)
    expect(page.locator("#bt-status")).to_be_in_viewport()  # the progress is where the person looks
    expect(page.locator("#backtest-card")).to_have_attribute("data-state", "done", timeout=RUN)
    expect(page.get_by_test_id("backtest-range")).to_contain_text("2,000 1m candles of BTC/USDT")
    expect(page.locator("#bt-note")).to_contain_text("2,000 candles fetched from the exchange")
    assert Candle.objects.filter(timeframe="1m").count() == 2000
    klines = len([h for h in binance_markets.requests if h.path == "/api/v3/klines"])

    page.get_by_test_id("backtest-run").click()
    expect(page.locator("#backtest-card")).to_have_attribute("data-state", "done", timeout=RUN)
    # reused: at most the candle or two that closed since the first run is fetched, in one request
    expect(page.locator("#bt-note")).not_to_contain_text("2,000 candles fetched")
    assert len([h for h in binance_markets.requests if h.path == "/api/v3/klines"]) <= klines + 1
    assert page.js_errors == []
