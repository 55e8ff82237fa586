"""Every page fits a phone (390 px) and a desktop (1280 px): no page-wide sideways scrolling (wide tables scroll
inside their own card), row actions and the header's controls are on screen, no script errors, and each page
has its own <title>. The pages carry realistic content: bots running, stopped and halted, orders, trades, an
equity curve, an exchange key, a notification channel with a delivery log, risk events."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from keys.services import key_create
from notifications.models import Outbox
from notifications.services import channel_create
from risk.models import RiskEvent
from risk.services import kill_switch_engage
from tests.risk.conftest import create_bot, put_ticker
from trading.models import EquitySnapshot, Fill, Order

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}
DESKTOP = {"width": 1280, "height": 800}
SITE = " · Trading platform"

# Elements wider than the screen that are not inside a sideways-scrolling box (what makes a page scroll).
OVERFLOWING = """() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll") return true; } return false; };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (!r.width || getComputedStyle(el).position === "fixed") continue;
    if ((r.right > vw + 1 || r.left < -1) && !scrolls(el)) out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "")
        + " " + Math.round(r.left) + ".." + Math.round(r.right));
  }
  return out.slice(0, 10);
}"""

# The part of an element that is cut off by the screen or by a scrolling box around it, in px.
HIDDEN_PX = """(el) => {
  const r = el.getBoundingClientRect();
  let left = 0, right = document.documentElement.clientWidth;
  for (let p = el.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX;
    if (o === "auto" || o === "scroll" || o === "hidden") {
      const b = p.getBoundingClientRect(); left = Math.max(left, b.left); right = Math.min(right, b.right); }
  }
  return Math.max(0, left - r.left) + Math.max(0, r.right - right);
}"""


@pytest.fixture
def content(alice, settings):
    """A trader's account with something on every page."""
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    now = timezone.now()
    wave = create_bot(alice, name="Wave rider", status="running", quote="812.35", base="0.0093")
    create_bot(alice, name="Grid ETH — a long descriptive name for a bot", status="stopped", symbol="ETH/USDT")
    halted = create_bot(alice, name="Trend follower", status="halted", halt_reason="Daily loss 5.2 % > limit 5 %")
    for i in range(6):
        side = "buy" if i % 2 == 0 else "sell"
        price = Decimal("20123.45") + 37 * i
        order = Order.objects.create(bot=wave, client_id=f"f:{i}", side=side, type="market", amount=Decimal("0.0031"),
                                     status="filled", filled=Decimal("0.0031"), average_price=price)
        Fill.objects.create(bot=wave, order=order, side=side, price=price, amount=Decimal("0.0031"),
                            fee=Decimal("0.0623"), fee_currency="USDT", liquidity="taker",
                            ts=now - timedelta(minutes=60 - 7 * i))
    for i in range(2):
        Order.objects.create(bot=wave, client_id=f"o:{i}", side="sell" if i else "buy", type="limit",
                             amount=Decimal("0.0125"), price=Decimal("19850.5") + 400 * i, status="open")
    for i in range(60):
        EquitySnapshot.objects.create(bot=wave, ts=now - timedelta(minutes=60 - i), price=Decimal("20000") + i,
                                      base=Decimal("0.0093"), quote=Decimal("812.35"),
                                      equity=Decimal("1000") + i % 13 - Decimal(i) / 3)
    RiskEvent.objects.create(user=alice, bot=halted, code="daily_loss", severity="critical",
                             message="Daily loss 5.2 % exceeds the 5 % limit: bot halted, 1 open order cancelled.")
    RiskEvent.objects.create(user=alice, bot=wave, code="max_open_trades", severity="warning",
                             message="Refused buy 0.0125 BTC: 3 open trades already (limit 3).")
    key_create(owner=alice, exchange="binance", label="main trading key", api_key="A" * 60 + "x9Zq", secret="S" * 64)
    channel = channel_create(owner=alice, kind="dingtalk", name="Trading desk",
                             webhook_url="http://127.0.0.1:9/robot/send?access_token=" + "a1b2" * 16,
                             secret="SEC" + "0" * 40)
    for i, state in enumerate(["sent", "failed", "pending"]):
        Outbox.objects.create(channel=channel, user=alice, event="fills", severity="critical" if i == 1 else "info",
                              title=f"Wave rider bought 0.0031 BTC at 20,123.45 USDT ({i + 1})", bot_label="Wave rider",
                              state=state, next_attempt_at=now, created_at=now - timedelta(minutes=i),
                              sent_at=now if state == "sent" else None,
                              last_error="DingTalk errcode 310000: sign not match" if state == "failed" else "")
    put_ticker("binance", "BTC/USDT", "20123.45")
    put_ticker("binance", "ETH/USDT", "1543.21")
    return wave


def _open(page, path):
    response = page.goto(path)
    assert response.status == 200, (path, response.status)
    if page.get_by_test_id("connection").count():  # pages with live data: wait until their scripts have run
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.wait_for_load_state("load")


def _assert_fits(page, path):
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{path}: the page scrolls sideways ({width[0]} px wide on a {width[1]} px screen): " \
                                 f"{page.evaluate(OVERFLOWING)}"
    assert page.js_errors == [], (path, page.js_errors)


def _main_pages(bot):
    return ["/", "/bots/", f"/bots/{bot.pk}/", "/keys/", "/notifications/", "/risk/"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_main_pages_never_scroll_sideways(page, login, alice, content, viewport):
    page.set_viewport_size(viewport)
    login(page, alice)
    for path in _main_pages(content):
        _open(page, path)
        _assert_fits(page, path)


def test_with_the_kill_switch_banner_and_for_a_new_user_the_pages_still_fit_a_phone(page, login, alice, bob, content):
    page.set_viewport_size(PHONE)
    login(page, bob)  # empty states
    for path in ["/", "/bots/", "/keys/", "/notifications/", "/risk/"]:
        _open(page, path)
        _assert_fits(page, path)
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="layout check")
    page.context.clear_cookies()
    login(page, alice)
    for path in _main_pages(content):
        _open(page, path)
        expect(page.get_by_test_id("kill-switch-banner")).to_be_visible()
        _assert_fits(page, path)


@pytest.mark.parametrize("viewport", [PHONE, TABLET, DESKTOP], ids=["phone", "tablet", "desktop"])
def test_header_controls_and_row_actions_are_on_screen(page, login, alice, content, viewport):
    """Nothing a person has to press is cut off: not the header's Emergency stop or Log out, not a bot's
    Start/Pause/Stop, not a key's Test/Delete, not a channel's Send test/Delete, not a limit's input."""
    page.set_viewport_size(viewport)
    login(page, alice)

    def on_screen(locator, what):
        assert locator.count() > 0, what
        for i in range(locator.count()):
            el = locator.nth(i)  # measured where it is: no sideways scrolling of the page or a table
            expect(el).to_be_visible()
            hidden = el.evaluate(HIDDEN_PX)
            assert hidden <= 1, f"{what} #{i} is cut off by {hidden:.0f} px"

    _open(page, "/bots/")
    on_screen(page.get_by_test_id("estop-button"), "Emergency stop")
    on_screen(page.get_by_role("button", name="Log out"), "Log out")
    on_screen(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard"), "nav link")
    expect(page.get_by_test_id("bot-row")).to_have_count(3)
    on_screen(page.get_by_test_id("bot-row").get_by_role("button", name="Stop"), "a bot's Stop")
    on_screen(page.get_by_test_id("bot-row").locator('[data-field="equity"]'), "a bot's equity")
    _open(page, "/")
    on_screen(page.get_by_test_id("portfolio-row").locator('[data-field="pnl"]'), "a portfolio P&L")
    _open(page, "/keys/")
    on_screen(page.get_by_test_id("key-row").get_by_role("button", name="Delete"), "a key's Delete")
    _open(page, "/notifications/")
    on_screen(page.get_by_test_id("channel-row").get_by_role("button", name="Send test"), "a channel's Send test")
    on_screen(page.get_by_test_id("channel-row").get_by_role("button", name="Delete"), "a channel's Delete")
    _open(page, "/risk/")
    on_screen(page.get_by_test_id("limits").locator("tbody input"), "a limit override")
    on_screen(page.get_by_test_id("risk-bot").get_by_role("button", name="Resume"), "a halted bot's Resume")


def test_every_page_has_its_own_title(page, login, alice, charlie, content):
    anonymous = {"/login/": "Log in", "/signup/": "Sign up", "/no-such-page/": "Page not found"}
    signed_in = {
        "/": "Dashboard", "/bots/": "Bots", "/bots/new/": "New bot", f"/bots/{content.pk}/": "Wave rider",
        f"/bots/{content.pk}/edit/": "Edit Wave rider", "/keys/": "Exchange keys", "/notifications/": "Notifications",
        "/risk/": "Risk", "/risk/stop/": "Emergency stop", "/password/": "Change password",
        "/account/totp/": "Two-factor codes", f"/bots/{content.pk + 1000}/": "Page not found",
    }
    seen = {}
    for pages in (anonymous, signed_in):
        if pages is signed_in:
            login(page, alice)
        for path, name in pages.items():
            page.goto(path)
            title = page.title()
            assert title == name + SITE, (path, title)
            seen.setdefault(title, path)
    assert len(seen) == len(anonymous) + len(signed_in) - 1  # the two 404s share theirs; every other page differs
    # the 404 page is the site's page, with the header, not a bare "Not Found"
    page.goto("/no-such-page/")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_test_id("estop-button")).to_be_visible()
    page.context.clear_cookies()
    login(page, charlie)
    page.goto("/admin/")
    assert page.title().strip() and "admin" in page.title().lower()
