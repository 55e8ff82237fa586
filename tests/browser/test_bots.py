"""The bot pages in a real browser: create a bot (with a validation error first), start it on the replay
feed, watch its trades arrive live over /ws/events/ (no reload), stop it, export the trades as CSV;
another user gets 404 for every page of that bot."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import expect

from accounts.models import AuditEvent
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.models import Bot, Fill
from trading.services.bots import bot_create, bot_start
from trading.templatetags.trading_format import num

LIVE = 15_000  # ms: generous for a loaded 2-core machine; a missing push still fails


@pytest.fixture
def replay(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _fill_param(page, strategy, name, value):
    page.locator(f'input[name="params-{strategy}-{name}"]').fill(str(value))


def test_create_start_watch_trades_live_stop_and_export(page, login, alice, replay):
    login(page, alice)
    page.goto("/bots/")
    expect(page.get_by_test_id("no-bots")).to_be_visible()
    page.get_by_role("link", name="Create your first bot").click()

    page.get_by_label("Name").fill("Wave rider")
    page.get_by_label("Exchange").select_option("binance")
    page.get_by_label("Symbol").fill("btc/usdt")
    page.get_by_label("Starting balance").fill("1000")
    # the strategy chooser shows the chosen strategy's parameters from the registry's schema
    page.get_by_label("Strategy").select_option("rsi")
    expect(page.locator('input[name="params-rsi-period"]')).to_be_visible()
    expect(page.locator('input[name="params-sma_cross-fast"]')).to_be_hidden()
    page.get_by_label("Strategy").select_option("sma_cross")
    expect(page.locator('input[name="params-sma_cross-fast"]')).to_have_value("10")  # the schema's default
    _fill_param(page, "sma_cross", "fast", 9)
    _fill_param(page, "sma_cross", "slow", 8)
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_test_id("param-error")).to_have_text("must be less than slow")
    expect(page.locator('input[name="params-sma_cross-fast"]')).to_have_value("9")  # input kept
    assert not Bot.objects.exists()

    _fill_param(page, "sma_cross", "fast", 3)
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_test_id("bot-title")).to_have_text("Wave rider")
    bot = Bot.objects.get(owner=alice)
    assert (bot.symbol, bot.strategy, bot.params["fast"], bot.params["slow"], bot.starting_balance) == (
        "BTC/USDT", "sma_cross", 3, 8, Decimal("1000"))
    expect(page.get_by_test_id("bot-status")).to_have_text("stopped")
    expect(page.get_by_test_id("feed-label")).to_have_text("Replay of recorded prices (not live)")
    expect(page.get_by_test_id("no-trades")).to_be_visible()

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_test_id("bot-status")).to_have_text("running")
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    for _ in range(80):  # what the beat poll + the bots' tick do, one replayed candle at a time
        poll_and_tick()
        if Fill.objects.filter(bot=bot).exists():
            break
    first = Fill.objects.filter(bot=bot).order_by("ts", "id").first()
    assert first is not None, "the SMA bot never traded on the wavy recording"
    row = page.get_by_test_id("trade-row").first
    expect(row).to_contain_text(first.side)
    expect(row.get_by_role("cell").nth(2)).to_have_text(num(first.price), timeout=LIVE)  # 8 decimals, as the page shows
    expect(row.get_by_role("cell").nth(3)).to_have_text(num(first.amount))
    expect(page.get_by_test_id("no-trades")).to_be_hidden()
    for _ in range(80):  # on to the sell: a closed trade shows up in the stats, still without a reload
        poll_and_tick()
        if Fill.objects.filter(bot=bot, side="sell").exists():
            break
    fills = Fill.objects.filter(bot=bot).count()
    assert Fill.objects.filter(bot=bot, side="sell").exists()
    expect(page.get_by_test_id("trade-row")).to_have_count(fills, timeout=LIVE)
    expect(page.get_by_test_id("stat-closed")).to_have_text("1", timeout=LIVE)
    expect(page.get_by_test_id("stat-return")).not_to_have_text("0.00 %")
    assert page.evaluate("window.__sameDocument") is True

    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_test_id("bot-status")).to_have_text("stopped")
    bot.refresh_from_db()
    assert bot.status == "stopped"
    assert {"bot.create", "bot.start", "bot.stop"} <= set(
        AuditEvent.objects.filter(actor=alice).values_list("action", flat=True))

    with page.expect_download() as download:
        page.get_by_test_id("csv-export").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == fills
    assert [r["side"] for r in rows][:2] == ["buy", "sell"]
    assert rows[0]["price"] == num(first.price) and Decimal(rows[0]["fee"]) == first.fee  # as the page shows it
    assert download.value.suggested_filename.endswith(f"-{bot.pk}-trades.csv")

    # the list and the dashboard show the bot with its P&L
    page.goto("/bots/")
    listed = page.get_by_test_id("bot-row")
    expect(listed).to_have_count(1)
    expect(listed.get_by_test_id("bot-status")).to_have_text("stopped")
    expect(listed.locator('[data-field="pnl"]')).to_have_text(re.compile(r"^[+-]?[\d,]+\.\d\d$"))
    page.goto("/")
    expect(page.get_by_test_id("portfolio-row")).to_contain_text("Wave rider")
    assert page.js_errors == []


def test_status_changes_show_live_on_the_list(page, login, alice, replay):
    bot = bot_create(owner=alice, name="Grid one", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("500"))
    login(page, alice)
    page.goto("/bots/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    row = page.get_by_test_id("bot-row")
    expect(row.get_by_test_id("bot-status")).to_have_text("stopped")
    expect(row.get_by_role("button", name="Pause", exact=True)).to_be_disabled()
    page.evaluate("window.__sameDocument = true")

    bot_start(bot=bot, actor=alice)  # e.g. from the API or another tab
    expect(row.get_by_test_id("bot-status")).to_have_text("running", timeout=LIVE)
    expect(row.get_by_role("button", name="Pause", exact=True)).to_be_enabled()
    expect(row.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(row.locator('[data-field="equity"]')).to_have_text("500.00")

    for _ in range(80):  # its first trade moves the P&L (fees, slippage, price) on the list, live
        poll_and_tick()
        if Fill.objects.filter(bot=bot).exists():
            break
    assert Fill.objects.filter(bot=bot).exists()
    expect(row.locator('[data-field="equity"]')).not_to_have_text("500.00", timeout=LIVE)
    expect(row.locator('[data-field="pnl"]')).to_have_text(re.compile(r"^[+-][\d,]+\.\d\d$"))
    assert page.evaluate("window.__sameDocument") is True

    row.get_by_role("button", name="Pause", exact=True).click()
    expect(row.get_by_test_id("bot-status")).to_have_text("paused")
    expect(row.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    assert page.js_errors == []


def test_bob_gets_404_on_every_page_of_alices_bot(page, login, alice, bob, live_server_url):
    bot = bot_create(owner=alice, name="Alice's", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     starting_balance=Decimal("1000"))
    login(page, bob)
    for path in (f"/bots/{bot.pk}/", f"/bots/{bot.pk}/edit/", f"/api/bots/{bot.pk}/trades.csv"):
        response = page.goto(path)
        assert response.status == 404, path
    page.goto("/bots/")
    expect(page.get_by_test_id("no-bots")).to_be_visible()
    client = Client()
    client.force_login(bob)
    for action in ("start", "stop", "pause", "delete", "edit"):
        assert client.post(f"/bots/{bot.pk}/{action}/", {"name": "mine"}).status_code == 404, action
    bot.refresh_from_db()
    assert (bot.status, bot.name, bot.archived_at) == ("stopped", "Alice's", None)


def test_open_orders_arrive_live_and_can_be_cancelled(page, login, alice, replay):
    bot = bot_create(owner=alice, name="Grid", exchange="binance", symbol="BTC/USDT", strategy="grid",
                     params={"lower": "90", "upper": "110", "levels": 5, "order_amount": "50"},
                     starting_balance=Decimal("1000"))
    bot_start(bot=bot, actor=alice)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("no-orders")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    for _ in range(5):
        poll_and_tick()
        if bot.orders.filter(status="open").exists():
            break
    open_orders = list(bot.orders.filter(status="open").order_by("pk"))
    assert open_orders, "a grid bot rests limit buys below the market"
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(len(open_orders), timeout=LIVE)
    expect(page.get_by_test_id("no-orders")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True

    target = open_orders[0]
    row = page.locator(f'[data-testid="order-row"][data-order-id="{target.pk}"]')
    expect(row).to_contain_text("limit")
    expect(row).to_contain_text(num(target.price))
    row.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(f"Cancelled the buy order {target.pk}.")).to_be_visible()
    expect(page.locator(f'[data-testid="order-row"][data-order-id="{target.pk}"]')).to_have_count(0)
    target.refresh_from_db()
    assert target.status == "cancelled"
    expect(page.get_by_test_id("order-row")).to_have_count(len(open_orders) - 1)


def test_pause_resume_and_a_risk_halt_show_on_the_detail_page(page, login, alice, replay):
    from trading.execution.safety import bot_halt

    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     starting_balance=Decimal("1000"))
    bot_start(bot=bot, actor=alice)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_test_id("bot-status")).to_have_text("paused")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.get_by_test_id("bot-status")).to_have_text("running")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")

    bot.refresh_from_db()
    bot_halt(bot=bot, actor=None, reason="daily loss limit reached")  # as a breaker does
    expect(page.get_by_test_id("bot-status")).to_have_text("halted", timeout=LIVE)
    expect(page.get_by_test_id("halt-reason")).to_contain_text("daily loss limit reached")
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_disabled()
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == []


def test_edit_changes_parameters_only_while_stopped(page, login, alice, replay):
    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 5, "slow": 20}, starting_balance=Decimal("1000"))
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    page.get_by_role("link", name="Edit").click()
    expect(page.locator('input[name="params-sma_cross-fast"]')).to_have_value("5")  # the saved values
    expect(page.get_by_label("Symbol")).to_be_disabled()
    page.get_by_label("Name").fill("Trend 2")
    page.locator('input[name="params-sma_cross-slow"]').fill("abc")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("param-error")).to_contain_text("whole number")
    page.locator('input[name="params-sma_cross-slow"]').fill("25")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("bot-title")).to_have_text("Trend 2")
    bot.refresh_from_db()
    assert (bot.name, bot.params["fast"], bot.params["slow"]) == ("Trend 2", 5, 25)

    bot_start(bot=bot, actor=alice)
    page.goto(f"/bots/{bot.pk}/edit/")
    expect(page.get_by_label("Strategy")).to_be_disabled()
    expect(page.locator('input[name="params-sma_cross-fast"]')).to_be_disabled()
    expect(page.get_by_text("Stop the bot to change its strategy or parameters.")).to_be_visible()
    page.get_by_label("Name").fill("Trend 3")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("bot-title")).to_have_text("Trend 3")
    bot.refresh_from_db()
    assert (bot.name, bot.status, bot.params["slow"]) == ("Trend 3", "running", 25)


def test_the_dashboard_shows_the_portfolio_across_bots_and_the_kill_switch(page, login, alice, bob, replay):
    from risk.services import kill_switch_engage

    for name, balance in (("One", "1000"), ("Two", "250.5")):
        bot_create(owner=alice, name=name, exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                   params={"fast": 3, "slow": 8}, starting_balance=Decimal(balance))
    bot_create(owner=bob, name="Bob's", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
               starting_balance=Decimal("99999"))
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    login(page, alice)
    page.goto("/")
    panel = page.get_by_test_id("portfolio-panel")
    expect(panel.get_by_test_id("portfolio-row")).to_have_count(2)  # bob's bot is not in it
    expect(panel.get_by_test_id("portfolio-equity")).to_have_text("1,250.50")
    expect(panel.get_by_test_id("portfolio-pnl")).to_have_text("0.00 USDT")
    expect(panel.get_by_test_id("portfolio-running")).to_have_text("0 / 2")
    expect(page.get_by_test_id("kill-switch-state")).to_have_text("off")

    # live: a bot starts and trades while the dashboard is open
    for _ in range(200):
        if any('"hello"' in f for f in frames):  # /ws/events/ is connected
            break
        page.wait_for_timeout(50)
    page.evaluate("window.__sameDocument = true")
    one = Bot.objects.get(name="One")
    bot_start(bot=one, actor=alice)
    expect(panel.get_by_test_id("portfolio-running")).to_have_text("1 / 2", timeout=LIVE)
    one_row = panel.locator(f'[data-testid="portfolio-row"][data-bot-id="{one.pk}"]')
    expect(one_row.locator('[data-field="status"]')).to_have_text("running")
    for _ in range(80):
        poll_and_tick()
        if Fill.objects.filter(bot=one).exists():
            break
    assert Fill.objects.filter(bot=one).exists()
    expect(panel.get_by_test_id("portfolio-equity")).not_to_have_text("1,250.50", timeout=LIVE)
    expect(panel.get_by_test_id("portfolio-pnl")).to_have_text(re.compile(r"^[+-][\d,]+\.\d\d USDT$"))
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == []

    kill_switch_engage(scope="user", user=alice, actor=alice, reason="test")
    page.reload()
    expect(page.get_by_test_id("kill-switch-state")).to_have_text("engaged")


def test_delete_archives_the_bot_and_keeps_its_history(page, login, alice, replay):
    bot = bot_create(owner=alice, name="Old idea", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"))
    bot_start(bot=bot, actor=alice)
    for _ in range(80):
        poll_and_tick()
        if Fill.objects.filter(bot=bot).exists():
            break
    fills = Fill.objects.filter(bot=bot).count()
    assert fills
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("Deleted “Old idea”")).to_be_visible()
    expect(page.get_by_test_id("no-bots")).to_be_visible()
    bot.refresh_from_db()
    assert bot.archived_at is not None and bot.status == "stopped"
    assert Fill.objects.filter(bot=bot).count() == fills  # the history stays
    assert page.goto(f"/bots/{bot.pk}/").status == 404
