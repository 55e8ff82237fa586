"""The emergency stop in a real browser: press it in the header, confirm, see the bots halted and the banner."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from risk.models import KillSwitch
from tests.conftest import PASSWORD
from tests.risk.conftest import create_bot, put_ticker
from trading.models import Bot, Order


def test_press_the_emergency_stop_confirm_and_see_bots_halted_and_the_banner(page, login, alice, bob):
    grid = create_bot(alice, name="Grid one")
    trend = create_bot(alice, name="Trend two")
    resting = Order.objects.create(bot=grid, client_id="r:1", side="buy", type="limit", amount=Decimal("0.01"),
                                   price=Decimal("19000"), status="open")
    bobs = create_bot(bob, name="Bob's bot")
    login(page, alice)

    page.goto("/keys/")
    expect(page.get_by_test_id("kill-switch-banner")).to_have_count(0)
    page.get_by_test_id("estop-button").click()
    dialog = page.get_by_test_id("estop-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name=re.compile("Halt and flatten"))).to_be_visible()  # the second choice

    # cancelling changes nothing
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not KillSwitch.objects.filter(engaged=True).exists()

    page.get_by_test_id("estop-button").click()
    page.get_by_test_id("estop-confirm").click()

    expect(page).to_have_url(re.compile(r"/keys/$"))  # back where the person was
    banner = page.get_by_test_id("kill-switch-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Your kill switch is engaged")
    expect(page.locator(".msg")).to_contain_text("2 bot(s) halted, 1 open order(s) cancelled")

    page.goto("/risk/")
    expect(page.get_by_test_id("kill-switch-banner")).to_be_visible()
    rows = page.get_by_test_id("risk-bot")
    expect(rows).to_have_count(2)
    for status in page.get_by_test_id("risk-bot-status").all():
        expect(status).to_have_text("halted")
    expect(page.get_by_test_id("switch-user").get_by_test_id("switch-state")).to_have_text("engaged")
    expect(page.get_by_test_id("risk-event").first).to_contain_text("Emergency stop")

    assert set(Bot.objects.filter(pk__in=[grid.pk, trend.pk]).values_list("status", flat=True)) == {"halted"}
    resting.refresh_from_db()
    assert resting.status == "cancelled"
    assert Bot.objects.get(pk=bobs.pk).status == "running"

    # every page shows the banner while the switch is engaged
    page.goto("/")
    expect(page.get_by_test_id("kill-switch-banner")).to_be_visible()

    # release with the password: the banner goes, the bots stay halted until resumed
    page.goto("/risk/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("release-button").click()
    expect(page.locator(".msg")).to_contain_text("Kill switch released")
    expect(page.get_by_test_id("kill-switch-banner")).to_have_count(0)
    assert Bot.objects.get(pk=grid.pk).status == "halted"
    page.locator(f"[data-bot-id='{grid.pk}']").get_by_role("button", name="Resume").click()
    expect(page.locator(f"[data-bot-id='{grid.pk}']").get_by_test_id("risk-bot-status")).to_have_text("running")
    assert page.js_errors == []


def test_halt_and_flatten_closes_the_position_from_the_header(page, login, alice):
    bot = create_bot(alice, name="Holder", quote="500", base="0.02", fill_overrides={"reject_rate": "0"})
    put_ticker("binance", "BTC/USDT", "25000")
    login(page, alice)
    page.goto("/risk/")
    page.get_by_test_id("estop-button").click()
    page.get_by_test_id("estop-flatten").click()
    expect(page.get_by_test_id("kill-switch-banner")).to_be_visible()
    expect(page.locator(".msg")).to_contain_text("1 position(s) closed at market")
    bot.refresh_from_db()
    assert bot.status == "halted" and bot.base == 0
    assert Order.objects.get(bot=bot, side="sell").status == "filled"
