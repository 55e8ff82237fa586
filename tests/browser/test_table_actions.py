"""Every action in a table of the trading and keys pages is reachable without scrolling a table sideways
and is a touch target of at least 40 x 40 px, on a phone (390 px) and a desktop (1280 px)."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_layout import DESKTOP, HIDDEN_PX, PHONE, _open, content  # noqa: F401
from trading.services.watchlist import watch_add

MIN_TARGET = 40


def _reachable(page, locator, what):
    assert locator.count() > 0, what
    for i in range(locator.count()):
        el = locator.nth(i)
        expect(el).to_be_visible()
        hidden = el.evaluate(HIDDEN_PX)
        assert hidden <= 1, f"{what} #{i} is cut off by {hidden:.0f} px (needs sideways scrolling)"
        box = el.bounding_box()
        assert box["height"] >= MIN_TARGET and box["width"] >= MIN_TARGET, f"{what} #{i} is {box['width']:.0f} x " \
                                                                           f"{box['height']:.0f} px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_table_actions_are_on_screen_and_big_enough(page, login, alice, content, viewport):  # noqa: F811
    watch_add(user=alice, exchange="binance", symbol="BTC/USDT")
    page.set_viewport_size(viewport)
    login(page, alice)
    _open(page, "/")
    _reachable(page, page.locator("[data-unwatch]"), "a watchlist remove button")
    age = page.get_by_test_id("price-row").locator('[data-field="age"]').first
    assert age.evaluate(HIDDEN_PX) <= 1, "the Updated column needs sideways scrolling"
    _open(page, f"/bots/{content.pk}/")
    _reachable(page, page.get_by_test_id("order-row").get_by_role("button", name="Cancel"), "an order's Cancel")
    _open(page, "/bots/")
    _reachable(page, page.get_by_test_id("bot-row").get_by_role("button"), "a bot's action")
    _open(page, "/keys/")
    _reachable(page, page.get_by_test_id("key-row").get_by_role("button", name="Test"), "a key's Test")
    _reachable(page, page.get_by_test_id("key-row").get_by_role("button", name="Delete"), "a key's Delete")


def test_every_main_link_is_on_a_phone_screen_without_scrolling(page, login, alice):
    page.set_viewport_size(PHONE)
    login(page, alice)
    _open(page, "/")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    assert links.count() >= 6
    for i in range(links.count()):
        link = links.nth(i)
        assert link.evaluate(HIDDEN_PX) <= 1, f"{link.inner_text()} is off-screen"
        assert link.bounding_box()["height"] >= MIN_TARGET


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_channel_and_risk_table_actions_are_on_screen_and_big_enough(page, login, alice, content, viewport):  # noqa: F811
    page.set_viewport_size(viewport)
    login(page, alice)
    _open(page, "/notifications/")
    row = page.get_by_test_id("channel-row")
    for name in ("Send test", "Pause", "Delete"):
        _reachable(page, row.get_by_role("button", name=name), f"a channel's {name}")
    _open(page, "/risk/")
    _reachable(page, page.get_by_test_id("risk-bot").get_by_role("button", name="Resume"), "a halted bot's Resume")
    _reachable(page, page.get_by_test_id("limits").get_by_role("button", name="Save limits"), "Save limits")
    inputs = page.get_by_test_id("limits").locator("input:not([type=hidden])")
    for i in range(inputs.count()):
        assert inputs.nth(i).evaluate(HIDDEN_PX) <= 1, f"limit input #{i} needs sideways scrolling"
        assert inputs.nth(i).bounding_box()["height"] >= MIN_TARGET


CONTROLS = "table a, table button, table summary, table input:not([type=hidden]), table select, table textarea"


def _every_control(page, path):
    """Every link, button, disclosure toggle and field inside a table of the page: on screen without scrolling a
    table sideways and at least 40 x 40 px."""
    controls = page.locator(CONTROLS)
    checked = 0
    for i in range(controls.count()):
        el = controls.nth(i)
        if not el.is_visible():  # inside a closed disclosure: checked once it is opened
            continue
        what = f"{path}: {el.evaluate('e => e.tagName.toLowerCase()')} {el.inner_text()[:40]!r}"
        hidden = el.evaluate(HIDDEN_PX)
        assert hidden <= 1, f"{what} is cut off by {hidden:.0f} px (needs sideways scrolling)"
        box = el.bounding_box()
        assert box["height"] >= MIN_TARGET and box["width"] >= MIN_TARGET, \
            f"{what} is {box['width']:.0f} x {box['height']:.0f} px"
        checked += 1
    return checked


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_control_in_every_table_is_on_screen_and_big_enough(page, login, alice, content, viewport):  # noqa: F811
    """Not only the named actions: the bot and market links of the dashboard, bot list and risk panel, a key's
    Rename toggle with its field and Save, every Cancel, Resume, Send test, Pause and Delete; and every row's
    "Updated" price age is in view."""
    watch_add(user=alice, exchange="binance", symbol="BTC/USDT")
    page.set_viewport_size(viewport)
    login(page, alice)
    expected = {"/": 7, "/bots/": 12, f"/bots/{content.pk}/": 2, "/keys/": 3, "/notifications/": 3, "/risk/": 4,
                "/profit/": 0}
    for path, at_least in expected.items():
        _open(page, path)
        assert _every_control(page, path) >= at_least, path
        if path == "/":
            ages = page.get_by_test_id("price-row").locator('[data-field="age"]')
            expect(ages).to_have_count(2)
            for i in range(2):
                assert ages.nth(i).evaluate(HIDDEN_PX) <= 1, "the Updated column needs sideways scrolling"
        if path == "/keys/":
            page.get_by_test_id("key-row").locator("summary", has_text="Rename").click()
            rename = page.get_by_test_id("key-row").locator("details.rename")
            expect(rename.get_by_role("textbox")).to_be_visible()
            assert _every_control(page, path) >= 5  # the toggle, the new label's field and Save, Test, Delete
