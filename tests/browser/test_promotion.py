"""The promotion wizard on the bot page in a real browser (phone and desktop widths): criteria -> review ->
confirm (a wrong phrase shows the attempts left) -> waiting for approval -> live with an unmistakable LIVE
badge on the bot page, the bot list, the dashboard, the edit page and the risk panel -> one click back to paper. The balance check goes to
the Binance emulator through the real ccxt client."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_layout import HIDDEN_PX
from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.models import PromotionRequest
from trading.promotion.services import promotion_approve

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


def fits(page):
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


def on_screen(locator):
    expect(locator).to_be_visible()
    assert locator.evaluate(HIDDEN_PX) <= 1


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_wizard_takes_an_eligible_bot_live_and_back(page, login, alice, eligible_bot, approver, viewport):
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto(f"/bots/{eligible_bot.pk}/")
    card = page.get_by_test_id("promotion-card")
    expect(card).to_have_attribute("data-step", "criteria")
    rows = page.get_by_test_id("promotion-criteria").locator("tr")
    expect(rows).to_have_count(7)
    expect(page.locator("#promo-criteria tr[data-passed=true]")).to_have_count(7)
    expect(page.get_by_test_id("live-badge")).to_be_hidden()
    fits(page)

    page.get_by_test_id("promotion-allocation").fill("20000")
    page.get_by_test_id("promotion-request").click()
    expect(page.get_by_test_id("promotion-error")).to_contain_text("more than the 10000 USDT free")
    page.get_by_test_id("promotion-allocation").fill("500")
    page.get_by_test_id("promotion-request").click()
    expect(card).to_have_attribute("data-step", "review")
    review = page.get_by_test_id("promotion-review")
    expect(review).to_contain_text("500 USDT")
    expect(review).to_contain_text("main (binance)")
    expect(review).to_contain_text("30 closed trades")
    on_screen(page.get_by_test_id("promotion-continue"))
    fits(page)

    page.get_by_test_id("promotion-continue").click()
    expect(card).to_have_attribute("data-step", "confirm")
    page.get_by_test_id("promotion-phrase").fill("i understand")
    page.get_by_test_id("promotion-confirm").click()
    expect(page.get_by_test_id("promotion-error")).to_have_text("Wrong phrase. 4 attempts left.")
    page.get_by_test_id("promotion-phrase").fill("I UNDERSTAND")
    on_screen(page.get_by_test_id("promotion-confirm"))
    page.get_by_test_id("promotion-confirm").click()
    expect(card).to_have_attribute("data-step", "waiting")
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "paper"

    promotion_approve(promotion=PromotionRequest.objects.get(), actor=approver)
    page.reload()
    expect(card).to_have_attribute("data-step", "live")
    badge = page.get_by_test_id("live-badge")
    on_screen(badge)
    expect(badge).to_have_text("LIVE")
    expect(page.get_by_test_id("promotion-live")).to_contain_text("500 USDT")
    fits(page)
    for path in ("/bots/", "/", f"/bots/{eligible_bot.pk}/edit/", "/risk/"):  # every page that lists the bot
        page.goto(path)
        on_screen(page.get_by_test_id("live-badge").first)
        fits(page)

    page.goto(f"/bots/{eligible_bot.pk}/")
    expect(card).to_have_attribute("data-step", "live")
    page.get_by_test_id("promotion-demote").click()
    expect(card).to_have_attribute("data-step", "criteria")
    expect(page.get_by_test_id("live-badge")).to_be_hidden()
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "paper"
    assert PromotionRequest.objects.get().status == "demoted"
    assert page.js_errors == []


def test_with_live_trading_off_the_wizard_explains_and_offers_nothing(page, login, alice, make_eligible_bot):
    bot = make_eligible_bot(alice)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    card = page.get_by_test_id("promotion-card")
    expect(card).to_have_attribute("data-step", "criteria")
    expect(page.locator("#promo-status")).to_contain_text("switched off")
    expect(page.locator('#promo-criteria tr[data-criterion="live_enabled"]')).to_have_attribute("data-passed", "false")
    expect(page.get_by_test_id("promotion-request")).to_be_disabled()
