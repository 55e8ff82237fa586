"""Password change and hash upgrades through the pages, in a real browser."""

import re

from playwright.sync_api import expect

from accounts.models import AuditEvent, User
from tests.conftest import PASSWORD

NEW_PASSWORD = "another long pass phrase for alice 9"
ARGON2_FIRST = ["django.contrib.auth.hashers.Argon2PasswordHasher",
                "django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def _log_in(page, username, password):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_change_the_password_then_only_the_new_one_works(page, live_server_url, alice):
    _log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_test_id("username").click()
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()

    page.get_by_label("Old password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".error")).to_contain_text("old password was entered incorrectly")

    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/password/done/$"))
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    page.goto("/")  # still signed in after the change
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    _log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    _log_in(page, "alice", NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    actions = list(AuditEvent.objects.filter(target=f"user:{alice.pk}").values_list("action", flat=True))
    assert "password.change" in actions
    assert AuditEvent.objects.filter(action="login.failure", target="username:alice").count() == 1
    assert NEW_PASSWORD not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_an_old_hash_is_upgraded_to_argon2_when_logging_in_on_the_page(page, live_server_url, make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    make_user("dora")
    assert User.objects.get(username="dora").password.startswith("pbkdf2_sha256$")
    settings.PASSWORD_HASHERS = ARGON2_FIRST  # the operator moved to argon2 (our default)

    _log_in(page, "dora", PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    dora = User.objects.get(username="dora")
    assert dora.password.startswith("argon2$")
    assert dora.check_password(PASSWORD)
