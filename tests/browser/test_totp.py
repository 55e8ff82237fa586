"""Enrol two-factor codes through the page with the secret it shows, then turn them off with the password."""

import re

import pyotp
import pytest
from playwright.sync_api import expect

from accounts.models import AuditEvent, TotpDevice, User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser]


def test_enrol_from_the_password_page_then_disable(page, login, alice):
    login(page, alice)
    page.goto("/")
    page.get_by_test_id("username").click()
    page.get_by_test_id("totp-link").click()
    expect(page).to_have_url(re.compile(r"/account/totp/$"))
    expect(page.get_by_test_id("totp-status")).to_contain_text("off")

    page.get_by_role("button", name="Set up two-factor codes").click()
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()  # drawn by the server, no script
    secret = page.get_by_test_id("totp-secret").input_value()
    uri = page.get_by_test_id("totp-uri").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret) and uri.startswith("otpauth://totp/") and secret in uri
    totp = pyotp.TOTP(secret)

    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    page.get_by_label("Code from your app").fill(wrong)
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator(".errors, .error").first).to_contain_text("not right")
    expect(page.get_by_test_id("totp-secret")).to_have_count(0)  # not shown again
    assert not User.objects.get(pk=alice.pk).totp_enabled

    page.get_by_label("Code from your app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("Two-factor codes are on.")).to_be_visible()
    expect(page.get_by_test_id("totp-status")).to_contain_text("on")
    expect(page.get_by_test_id("totp-recovery-codes").locator("li")).to_have_count(10)
    assert secret not in page.content()
    assert User.objects.get(pk=alice.pk).totp_enabled

    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Turn off two-factor codes").click()
    expect(page.locator(".error").first).to_contain_text("not right")
    assert User.objects.get(pk=alice.pk).totp_enabled

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Turn off two-factor codes").click()
    expect(page.get_by_text("Two-factor codes are off.")).to_be_visible()
    assert not User.objects.get(pk=alice.pk).totp_enabled
    assert not TotpDevice.objects.filter(user=alice).exists()
    assert list(AuditEvent.objects.filter(actor=alice, action__startswith="totp.").order_by("id")
                .values_list("action", flat=True)) == [
        "totp.enroll_start", "totp.verify_failed", "totp.enable", "totp.recovery_codes_issued", "totp.disable_refused",
        "totp.disable"]
    assert page.js_errors == []


def test_with_codes_on_the_login_page_asks_for_a_code_and_a_used_one_is_refused(page, alice):
    from django.utils import timezone

    from accounts.services import totp_enroll_confirm, totp_enroll_start

    _, secret = totp_enroll_start(user=alice)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(timezone.now())
    totp_enroll_confirm(user=alice, code=totp.generate_otp(step - 1))

    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))  # the password alone made no session
    page.goto("/login/totp/")
    page.get_by_label("Code from your app").fill(totp.generate_otp(step - 1))  # spent when codes were turned on
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errors, .error").first).to_contain_text("not right")
    page.get_by_label("Code from your app").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.js_errors == []
