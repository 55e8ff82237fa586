"""The Keys page in a real browser: add a key, see it masked, test it against the Binance emulator
(the real ccxt client through CCXT_OVERRIDES), see it flagged for rotation, delete it, revoke all."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import AuditEvent
from keys.models import ExchangeKey
from keys.services import key_create, key_disable
from tests.emulator.binance import API_KEY, SECRET
from tests.emulator.fixtures import *  # noqa: F403

WRONG_SECRET = "wrongSecretPlaceholder" + "9" * 42


def _add_key(page, *, label: str, api_key: str, secret: str) -> None:
    page.get_by_label("Exchange").select_option("binance")
    page.get_by_label("Label", exact=True).fill(label)
    page.get_by_label("API key").fill(api_key)
    page.get_by_label("Secret").fill(secret)
    page.get_by_role("button", name="Save key").click()


def _row(page, label: str):
    name = page.get_by_test_id("key-label").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    return page.get_by_test_id("key-row").filter(has=name)


def test_add_a_key_see_it_masked_test_it_and_delete_it(page, login, alice, use_binance_emulator):
    login(page, alice)
    page.goto("/keys/")
    expect(page.get_by_test_id("no-keys")).to_be_visible()

    _add_key(page, label="main", api_key=API_KEY, secret=SECRET)
    expect(page.get_by_text("Saved binance key “main”")).to_be_visible()
    row = _row(page, "main")
    expect(row.get_by_test_id("key-mask")).to_have_text("••••" + API_KEY[-4:])
    expect(row.get_by_test_id("key-test-result")).to_have_text("never")
    html = page.content()
    assert SECRET not in html and API_KEY not in html  # write-only: not in the list, not back in the form
    expect(page.get_by_label("Secret")).to_have_value("")

    row.get_by_role("button", name="Test").click()
    expect(page.get_by_text("main: Connected: the key can read your balance.")).to_be_visible()
    expect(_row(page, "main").get_by_test_id("key-test-result")).to_contain_text("OK")
    assert use_binance_emulator.count("/api/v3/account") >= 1  # it really called the signed endpoint

    # a key with a wrong secret: a clear message, not an error page
    _add_key(page, label="typo", api_key=API_KEY, secret=WRONG_SECRET)
    _row(page, "typo").get_by_role("button", name="Test").click()
    expect(page.locator(".msg.error")).to_contain_text(re.compile(r"typo: .*(key|signature)", re.I))
    expect(_row(page, "typo").get_by_test_id("key-test-result")).to_contain_text("Failed")
    expect(_row(page, "typo").get_by_test_id("key-test-result")).to_have_attribute("title", re.compile(r"\w"))
    assert WRONG_SECRET not in page.content()

    # relabel on the page
    typo = _row(page, "typo")
    typo.get_by_text("Rename").click()
    typo.get_by_label("New label for typo").fill("wrong secret")
    typo.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Renamed “typo” to “wrong secret”.")).to_be_visible()
    wrong = _row(page, "wrong secret")
    wrong.get_by_text("Rename").click()
    wrong.get_by_label("New label for wrong secret").fill("main")  # taken: a clear message, nothing changes
    wrong.get_by_role("button", name="Save").click()
    expect(page.locator(".msg.error")).to_contain_text("already have a binance key labelled 'main'")
    expect(_row(page, "wrong secret")).to_have_count(1)

    page.on("dialog", lambda dialog: dialog.accept())  # "Delete the key …?"
    _row(page, "main").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted key “main”.")).to_be_visible()
    expect(_row(page, "main")).to_have_count(0)
    expect(_row(page, "wrong secret")).to_have_count(1)
    assert list(ExchangeKey.objects.values_list("label", flat=True)) == ["wrong secret"]

    events = AuditEvent.objects.filter(actor=alice, action__startswith="key.")
    assert sorted(events.values_list("action", flat=True)) == [
        "key.create", "key.create", "key.delete", "key.relabel", "key.test", "key.test"]
    assert SECRET not in str(list(events.values_list("details", flat=True)))
    assert page.js_errors == []


def test_an_old_key_is_flagged_rotate_with_its_date_and_revoke_all_clears_them(page, login, alice, bob):
    old = key_create(owner=alice, exchange="binance", label="old", api_key=API_KEY, secret=SECRET)
    key_create(owner=alice, exchange="kraken", label="fresh", api_key=API_KEY, secret=SECRET)
    key_create(owner=bob, exchange="binance", label="bobs", api_key=API_KEY, secret=SECRET)
    added = timezone.now() - timedelta(days=120)
    ExchangeKey.objects.filter(pk=old.pk).update(created_at=added)

    login(page, alice)
    page.goto("/keys/")
    expect(page.get_by_test_id("key-row")).to_have_count(2)  # bob's key is not here
    old_row, fresh_row = _row(page, "old"), _row(page, "fresh")
    expect(old_row).to_contain_text(added.strftime("%Y-%m-%d"))
    expect(old_row.get_by_test_id("rotate-flag")).to_have_text("rotate")
    expect(fresh_row.get_by_test_id("rotate-flag")).to_have_count(0)

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke all keys").click()
    expect(page.get_by_text("Revoked all your keys (2 deleted)")).to_be_visible()
    expect(page.get_by_test_id("no-keys")).to_be_visible()
    assert list(ExchangeKey.objects.values_list("owner__username", flat=True)) == ["bob"]


def test_a_key_staff_disabled_is_marked_and_its_test_explains_why(page, login, alice, charlie):
    key = key_create(owner=alice, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)
    key_disable(key=key, actor=charlie, reason="Leaked in a support ticket")

    login(page, alice)
    page.goto("/keys/")
    row = _row(page, "main")
    expect(row.get_by_text("disabled")).to_be_visible()
    row.get_by_role("button", name="Test").click()
    expect(page.locator(".msg.error")).to_contain_text("This key is disabled: Leaked in a support ticket.")
