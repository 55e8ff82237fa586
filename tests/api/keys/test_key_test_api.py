"""POST /api/keys/{id}/test/ end to end: our API -> the real ccxt client -> the local Binance emulator."""

import time

import pytest

from accounts.models import AuditEvent
from keys.models import ExchangeKey
from keys.services import key_create, key_disable
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator, overrides_for
from tests.emulator.fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

WRONG_SECRET = "wrongSecretPlaceholder" + "9" * 42


@pytest.fixture
def emu(use_binance_emulator, settings):
    settings.CCXT_TIMEOUT_MS = 1000
    return use_binance_emulator


def _key(owner, secret=SECRET):
    return key_create(owner=owner, exchange="binance", label="main", api_key=API_KEY, secret=secret)


def _test(api, user, key):
    return api(user).post(f"/api/keys/{key.pk}/test/")


def test_a_valid_key_is_ok_and_the_result_is_remembered(api, alice, emu):
    key = _key(alice)
    r = _test(api, alice, key)
    assert r.status_code == 200 and r.json()["ok"] is True, r.content
    assert emu.count("/api/v3/account") == 1
    # the balance the key can see, for its owner (the emulator's account: 0.5 BTC, 2 ETH, 10000 USDT)
    assert {b["asset"]: b["total"] for b in r.json()["balances"]} == {"BTC": "0.5", "ETH": "2", "USDT": "10000"}
    key.refresh_from_db()
    assert key.last_test_ok is True and key.last_tested_at is not None
    listed = api(alice).get(f"/api/keys/{key.pk}/").json()
    assert listed["last_test_ok"] is True and listed["last_tested_at"]
    assert SECRET not in r.content.decode() and API_KEY not in r.content.decode()
    event = AuditEvent.objects.get(action="key.test", actor=alice)
    assert event.details == {"ok": True, "code": ""} and event.target == f"key:{key.pk}"


def test_a_wrong_secret_is_400_invalid_credentials(api, alice, emu):
    key = _key(alice, secret=WRONG_SECRET)
    r = _test(api, alice, key)
    assert r.status_code == 400
    body = r.json()
    assert body["ok"] is False and body["error"]["code"] == "invalid_credentials" and body["error"]["message"]
    assert WRONG_SECRET not in r.content.decode()
    key.refresh_from_db()
    assert key.last_test_ok is False and key.last_test_code == "invalid_credentials"


def test_a_rate_limited_exchange_is_429_rate_limited(api, alice, emu):
    key = _key(alice)
    emu.fail("rate_limit", retry_after=5)
    r = _test(api, alice, key)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"


def test_a_slow_exchange_is_504_within_the_timeout(api, alice, emu):
    key = _key(alice)
    emu.fail("timeout", seconds=5)
    started = time.monotonic()
    r = _test(api, alice, key)
    assert time.monotonic() - started < 2.5
    assert r.status_code == 504 and r.json()["error"]["code"] == "exchange_unavailable"


def test_an_exchange_that_is_down_is_502(api, alice, closed_port, settings):
    settings.CCXT_OVERRIDES = overrides_for(f"http://127.0.0.1:{closed_port}")
    key = _key(alice)
    r = _test(api, alice, key)
    assert r.status_code == 502 and r.json()["error"]["code"] == "exchange_unavailable"


def test_a_disabled_key_is_not_sent_to_the_exchange(api, alice, charlie, emu):
    key = _key(alice)
    key_disable(key=key, actor=charlie, reason="Suspected leak")
    r = _test(api, alice, key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "key_disabled"
    assert "Suspected leak" in r.json()["error"]["message"]
    assert emu.count("/api/v3/account") == 0
    assert ExchangeKey.objects.get(pk=key.pk).last_tested_at is None


# --- the test on save (POST /api/keys/) ---------------------------------------------------------

def _save(api, user, **over):
    body = {"exchange": "binance", "label": "main", "api_key": API_KEY, "secret": SECRET, **over}
    return api(user).post("/api/keys/", body, format="json")


def test_saving_a_valid_key_tests_it_and_says_it_passed(api, alice, emu):
    r = _save(api, alice)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["test_status"] == "passed" and body["last_test_ok"] is True and body["last_tested_at"]
    assert emu.count("/api/v3/account") == 1
    event = AuditEvent.objects.get(action="key.create")
    assert event.details["test"] == "passed" and "10000" not in str(event.details)  # amounts are not recorded


def test_saving_a_key_the_exchange_rejects_stores_nothing_and_says_why(api, alice, emu):
    r = _save(api, alice, secret=WRONG_SECRET)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "invalid_credentials" and "secret" in error["fields"]
    assert "rejected the API key or secret" in error["message"]
    assert WRONG_SECRET not in r.content.decode()
    assert not ExchangeKey.objects.exists() and not AuditEvent.objects.filter(action="key.create").exists()


@pytest.mark.parametrize("fault", ["server_error", "disconnect", "rate_limit"])
def test_saving_while_the_exchange_is_unreachable_keeps_the_key_marked_untested(api, alice, emu, fault):
    emu.fail(fault)
    r = _save(api, alice)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["test_status"] == "untested" and body["last_test_ok"] is None and body["last_tested_at"] is None
    assert body["last_test_message"].startswith("Saved untested:")
    emu.clear_faults()
    assert _test(api, alice, ExchangeKey.objects.get()).json()["ok"] is True  # test it again later: passes
    assert api(alice).get("/api/keys/").json()[0]["test_status"] == "passed"


def test_short_credentials_the_exchange_accepts_are_accepted(api, alice, settings):
    with BinanceEmulator(api_key="abc123", secret="s3cr3t") as short:
        settings.CCXT_OVERRIDES = short.ccxt_overrides()
        r = _save(api, alice, api_key="abc123", secret="s3cr3t")
    assert r.status_code == 201, r.content
    assert r.json()["test_status"] == "passed"
