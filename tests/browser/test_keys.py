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


def test_saving_a_key_tests_it_refuses_a_rejected_one_and_keeps_an_untested_one(page, login, alice,
                                                                                  use_binance_emulator):
    emu = use_binance_emulator
    login(page, alice)
    page.goto("/keys/")
    expect(page.get_by_test_id("no-keys")).to_be_visible()

    _add_key(page, label="main", api_key=API_KEY, secret=SECRET)
    expect(page.get_by_text("Saved binance key “main”")).to_contain_text("Connection test passed")
    expect(page.get_by_text("Saved binance key “main”")).to_contain_text("0.5 BTC · 2 ETH · 10000 USDT")
    row = _row(page, "main")
    expect(row.get_by_test_id("key-mask")).to_have_text("••••" + API_KEY[-4:])
    expect(row.get_by_test_id("key-test-result")).to_contain_text("OK")
    assert emu.count("/api/v3/account") == 1  # saving really called the signed endpoint
    html = page.content()
    assert SECRET not in html and API_KEY not in html  # write-only: not in the list, not back in the form
    expect(page.get_by_label("Secret")).to_have_value("")

    # a wrong secret: refused on the same page beside the secret, the label kept, nothing stored
    _add_key(page, label="typo", api_key=API_KEY, secret=WRONG_SECRET)
    expect(page.locator(".has-error .error")).to_contain_text(re.compile(r"rejected the API key or secret", re.I))
    expect(page.get_by_label("Label", exact=True)).to_have_value("typo")
    expect(_row(page, "typo")).to_have_count(0)
    assert WRONG_SECRET not in page.content()
    assert not ExchangeKey.objects.filter(label="typo").exists()

    # the exchange is down: the key is kept, clearly marked untested, with the reason
    emu.fail("server_error")
    _add_key(page, label="later", api_key=API_KEY, secret=SECRET)
    expect(page.locator(".msg.warning")).to_contain_text(re.compile(r"Saved binance key “later”.*untested", re.I))
    expect(_row(page, "later").get_by_test_id("key-untested")).to_be_visible()
    emu.clear_faults()
    _row(page, "later").get_by_role("button", name="Test").click()
    expect(page.get_by_text("later: Connected: the key can read your balance.")).to_contain_text(
        "Balance: 0.5 BTC · 2 ETH · 10000 USDT.")
    expect(_row(page, "later").get_by_test_id("key-test-result")).to_contain_text("OK")

    # relabel on the page
    later = _row(page, "later")
    later.get_by_text("Rename").click()
    later.get_by_label("New label for later").fill("second")
    later.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Renamed “later” to “second”.")).to_be_visible()
    second = _row(page, "second")
    second.get_by_text("Rename").click()
    second.get_by_label("New label for second").fill("main")  # taken: a clear message, nothing changes
    second.get_by_role("button", name="Save").click()
    expect(page.locator(".msg.error")).to_contain_text("already have a binance key labelled 'main'")
    expect(_row(page, "second")).to_have_count(1)

    page.on("dialog", lambda dialog: dialog.accept())  # "Delete the key …?"
    _row(page, "main").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted key “main”.")).to_be_visible()
    expect(_row(page, "main")).to_have_count(0)
    expect(_row(page, "second")).to_have_count(1)
    assert list(ExchangeKey.objects.values_list("label", flat=True)) == ["second"]

    events = AuditEvent.objects.filter(actor=alice, action__startswith="key.")
    assert sorted(events.values_list("action", flat=True)) == [
        "key.create", "key.create", "key.delete", "key.relabel", "key.test"]
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
