"""The dashboard's price board in a real browser: a new price arrives live over /ws/prices/ (no
reload), bad exchange data shows as stale, and a recorded feed is labelled as not live."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.emulator.fixtures import *  # noqa: F403
from trading import price_selectors as prices
from trading.services.prices import prices_poll


def _watch_frames(page) -> list[str]:
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    return frames


def _open_dashboard_live(page, frames) -> None:
    """Open the dashboard and wait until the page has subscribed to its symbols."""
    page.goto("/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    deadline = time.monotonic() + 10
    while not any('"subscribed"' in f for f in frames):
        assert time.monotonic() < deadline, "the dashboard never subscribed to its prices"
        page.wait_for_timeout(50)
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page


def _row(page, symbol):
    return page.locator(f'tr[data-testid="price-row"][data-symbol="{symbol}"]')


def test_a_price_change_arrives_live_without_a_reload(page, login, alice, use_binance_emulator):
    emu = use_binance_emulator
    prices_poll(exchange="binance")  # what the beat task did before the page opened
    frames = _watch_frames(page)
    login(page, alice)
    _open_dashboard_live(page, frames)
    btc = _row(page, "BTC/USDT")
    expect(btc.get_by_test_id("last")).to_have_text(re.compile(r"^65000\.0"))
    expect(page.get_by_test_id("feed-label")).to_have_text("Live exchange prices")

    emu.set_price("BTC/USDT", bid="66123.40", ask="66123.60", last="66123.50")
    result = prices_poll(exchange="binance")
    sent = next(t for t in result.ticks if t.symbol == "BTC/USDT")
    assert not sent.stale and str(sent.last).startswith("66123.5")

    expect(btc.get_by_test_id("last")).to_have_text(str(sent.last))
    expect(btc.locator('[data-field="bid"]')).to_have_text(str(sent.bid))
    expect(btc.get_by_test_id("last")).to_have_class(re.compile(r"\bup\b"))  # it went up: shown as such
    expect(btc).not_to_have_class(re.compile(r"\bstale\b"))
    expect(btc.locator('[data-field="age"]')).to_have_text(re.compile(r"^\d+ s ago$"))
    # the candle chart for the first watched symbol follows the same tick
    expect(page.locator("#chart-note")).to_contain_text(str(sent.last))
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == []


def test_bad_exchange_data_shows_the_price_as_stale_and_recovers(page, login, alice, use_binance_emulator):
    emu = use_binance_emulator
    prices_poll(exchange="binance")
    frames = _watch_frames(page)
    login(page, alice)
    _open_dashboard_live(page, frames)
    eth = _row(page, "ETH/USDT")
    expect(eth).not_to_have_class(re.compile(r"\bstale\b"))

    emu.fail("null_prices")
    result = prices_poll(exchange="binance")
    assert all(t.stale for t in result.ticks)
    expect(eth).to_have_class(re.compile(r"\bstale\b"))
    age = eth.locator('[data-field="age"]')
    expect(age).to_have_text(re.compile(r"^stale · "))
    reason = age.get_attribute("title")
    assert reason, "the stale cell explains why"
    expect(eth.get_by_test_id("last")).to_have_text(re.compile(r"^3500\.0"))  # last good price kept, flagged

    emu.clear_faults()
    prices_poll(exchange="binance")
    expect(eth).not_to_have_class(re.compile(r"\bstale\b"))
    expect(age).not_to_have_text(re.compile("stale"))
    assert page.evaluate("window.__sameDocument") is True


@pytest.fixture
def replay_feed(settings, tmp_path, monkeypatch):
    closes = ["100.00", "101.50", "99.25", "103.75"]
    lines = ["timestamp_ms,open,high,low,close,volume"]
    for i, close in enumerate(closes):
        lines.append(f"{1_700_000_000_000 + i * 60_000},{close},{close},{close},{close},10")
    (tmp_path / "binance_BTC-USDT_1m.csv").write_text("\n".join(lines) + "\n")
    settings.MARKET_DATA_SOURCE = "replay"
    settings.MARKET_DATA_REPLAY_PATH = str(tmp_path)
    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT"]
    monkeypatch.setattr(prices, "_replay_cache", {})
    return closes


def test_a_replayed_feed_is_labelled_and_plays_live(page, login, alice, replay_feed):
    prices_poll(exchange="binance")  # step 0
    frames = _watch_frames(page)
    login(page, alice)
    _open_dashboard_live(page, frames)
    expect(page.get_by_test_id("feed-label")).to_have_text("Replay of recorded prices (not live)")
    last = _row(page, "BTC/USDT").get_by_test_id("last")
    expect(last).to_have_text(replay_feed[0])
    for close in replay_feed[1:3]:
        prices_poll(exchange="binance")
        expect(last).to_have_text(close)
    assert page.evaluate("window.__sameDocument") is True


def test_the_connection_indicator_reconnects_after_a_drop(page, login, alice, use_binance_emulator):
    emu = use_binance_emulator
    prices_poll(exchange="binance")
    sockets = []

    def through(ws):  # a pass-through to the real server that the test can cut
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/prices/$"), through)
    frames = _watch_frames(page)
    login(page, alice)
    _open_dashboard_live(page, frames)
    conn = page.get_by_test_id("connection")
    assert len(sockets) == 1

    frames.clear()
    sockets[0].close(code=1011, reason="server restarted")
    expect(conn).to_have_attribute("data-state", "reconnecting")
    expect(conn).to_contain_text(re.compile(r"Reconnecting in \d+ s"))
    expect(conn).to_have_attribute("data-state", "live", timeout=10_000)  # back by itself, no reload
    assert len(sockets) == 2
    deadline = time.monotonic() + 10
    while not any('"subscribed"' in f for f in frames):  # it subscribed again
        assert time.monotonic() < deadline
        page.wait_for_timeout(50)

    emu.set_price("ETH/USDT", bid="3600.10", ask="3600.30", last="3600.20")
    result = prices_poll(exchange="binance")
    sent = next(t for t in result.ticks if t.symbol == "ETH/USDT")
    expect(_row(page, "ETH/USDT").get_by_test_id("last")).to_have_text(str(sent.last))
    assert page.evaluate("window.__sameDocument") is True
