"""The risk-limit form in a real browser: refused values come back on the same page, each error beside its own
field, with everything that was typed still in the inputs; nothing is saved until every field is right."""

import pytest
from playwright.sync_api import expect

from risk.models import RiskPolicy
from tests.browser.test_layout import DESKTOP, HIDDEN_PX, PHONE


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_errors_show_per_field_on_the_same_page_and_keep_the_input(page, login, alice, viewport):
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto("/risk/")
    limits = page.get_by_test_id("limits")
    limits.get_by_label("Max trades per day per bot").fill("80")  # looser than the platform's 50
    limits.get_by_label("Max open trades").fill("2")  # fine on its own
    limits.get_by_label("Daily loss circuit breaker (%)").fill("-3")
    limits.get_by_role("button", name="Save limits").click()

    expect(page).to_have_url("/risk/limits/")  # no redirect: the same form, answered in place
    trades = page.get_by_test_id("limit-max_trades_per_day")
    expect(trades.get_by_test_id("limit-error")).to_contain_text("at most 50")
    expect(trades.get_by_role("textbox").or_(trades.get_by_role("spinbutton"))).to_have_value("80")
    expect(page.get_by_test_id("limit-max_open_trades").get_by_test_id("limit-error")).to_have_count(0)
    expect(limits.get_by_label("Max open trades")).to_have_value("2")
    expect(limits.get_by_label("Daily loss circuit breaker (%)")).to_have_value("-3")
    expect(page.get_by_text("The limits were not saved")).to_be_visible()
    error = trades.get_by_test_id("limit-error")
    assert error.evaluate(HIDDEN_PX) <= 1, "the error sits off-screen"
    assert not RiskPolicy.objects.filter(scope="user", user=alice).exists()

    limits.get_by_label("Max trades per day per bot").fill("20")
    limits.get_by_label("Daily loss circuit breaker (%)").fill("3")
    limits.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("Your limits were saved")).to_be_visible()
    saved = RiskPolicy.objects.get(scope="user", user=alice)
    assert (saved.max_trades_per_day, saved.max_open_trades, str(saved.daily_loss_pct)) == (20, 2, "3.000")
    assert page.js_errors == []
