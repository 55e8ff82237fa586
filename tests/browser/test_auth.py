"""A person signs up, logs out, logs back in and lands on the dashboard shell — in a real browser."""

import re

from playwright.sync_api import expect

from accounts.models import AuditEvent, User

NEW_PASSWORD = "a long and unusual pass phrase 7"


def test_sign_up_log_out_log_in_and_see_the_dashboard(page, live_server_url):
    page.goto("/signup/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Email").fill("dora@example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("username")).to_have_text("dora")
    expect(page.get_by_text("Paper only")).to_be_visible()
    assert User.objects.filter(username="dora").exists()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))  # the dashboard needs a session

    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for panel in ("prices-panel", "chart-panel", "portfolio-panel", "risk-panel"):
        expect(page.get_by_test_id(panel)).to_be_visible()
    assert page.js_errors == []
    actions = set(AuditEvent.objects.filter(actor__username="dora").values_list("action", flat=True))
    assert {"user.signup", "logout", "login.success"} <= actions


def test_a_wrong_password_shows_a_message_and_no_dashboard(page, live_server_url, alice):
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/login/$"))
