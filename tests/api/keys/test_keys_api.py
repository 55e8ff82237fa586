import logging

import pytest
from django.db import connection

from accounts.models import AuditEvent
from keys.models import ExchangeKey
from tests.emulator.fixtures import *  # noqa: F403

# Saving a key tests it with the exchange; here every exchange is unreachable (a closed local port), so
# keys are stored marked untested and nothing leaves the machine. Against the emulator: test_key_test_api.py.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("exchanges_unreachable")]

API_KEY = "TESTAPIKEYplaceholder0123456789abcd"
SECRET = "TESTSECRETplaceholder9876543210zyxw"
PASSPHRASE = "PASSPHRASEplaceholder"


def _create(client, **over):
    body = {"exchange": "binance", "label": "main", "api_key": API_KEY, "secret": SECRET, **over}
    return client.post("/api/keys/", body, format="json")


def test_it_saves_a_key_and_shows_only_a_masked_hint(api, alice):
    r = _create(api(alice))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["api_key_masked"] == "••••abcd" and body["label"] == "main" and body["exchange"] == "binance"
    assert body["rotate_due"] is False and body["last_tested_at"] is None
    assert body["test_status"] == "untested" and "Saved untested" in body["last_test_message"]
    for name in ("api_key", "secret", "passphrase", "api_key_enc", "secret_enc"):
        assert name not in body
    listed = api(alice).get("/api/keys/")
    assert [k["id"] for k in listed.json()] == [body["id"]]


def test_the_raw_database_row_holds_no_plaintext(api, alice):
    key_id = _create(api(alice), exchange="okx", passphrase=PASSPHRASE).json()["id"]
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM keys_exchangekey WHERE id = %s", [key_id])
        row = " ".join(str(v) for v in cur.fetchone())
    for plain in (API_KEY, SECRET, PASSPHRASE, API_KEY[:-4]):
        assert plain not in row
    assert ExchangeKey.objects.get(pk=key_id).api_key_hint == "abcd"


def test_no_response_page_audit_entry_or_log_line_contains_the_secret(api, alice, client, caplog):
    caplog.set_level(logging.DEBUG)
    c = api(alice)
    bad = _create(c, secret="has space " + SECRET)  # an error echoing input would leak it
    good = _create(c)
    key_id = good.json()["id"]
    c.patch(f"/api/keys/{key_id}/", {"label": "renamed"}, format="json")
    client.force_login(alice)
    page = client.get("/keys/")
    texts = [bad.content.decode(), good.content.decode(), c.get("/api/keys/").content.decode(),
             c.get(f"/api/keys/{key_id}/").content.decode(), page.content.decode(), caplog.text,
             str(list(AuditEvent.objects.values_list("details", "target")))]
    for text in texts:
        assert SECRET not in text and API_KEY not in text
    assert bad.status_code == 400 and "secret" in bad.json()["error"]["fields"]


@pytest.mark.parametrize("field, value, message", [
    ("secret", "", "may not be blank"),
    ("secret", "x" * 513, "512 characters"),
    ("secret", "two\nlines", "line breaks"),
    ("api_key", "abc def ghijkl", "spaces"),
    ("api_key", "tab\tinside123", "spaces"),
    ("api_key", "x" * 600, "512"),
    ("exchange", "nosuchexchange", "Unsupported exchange"),
    ("label", "", "blank"),
])
def test_bad_fields_get_400_with_a_message_and_nothing_is_saved(api, alice, field, value, message):
    r = _create(api(alice), **{field: value})
    assert r.status_code == 400
    err = r.json()["error"]
    assert field in err["fields"] and message.lower() in (err["message"] + str(err["fields"])).lower()
    assert not ExchangeKey.objects.exists()


def test_short_keys_are_left_to_the_exchange_to_judge(api, alice):
    r = _create(api(alice), api_key="k1", secret="s3")  # no fixed minimum: testnets issue short keys
    assert r.status_code == 201, r.content
    assert r.json()["api_key_masked"] == "••••k1"


def test_a_pem_secret_pasted_into_one_line_is_stored_as_pem(api, alice):
    from keys.services import key_credentials

    body = "MHcCAQEEIPlaceholderPlaceholderPlaceholderPlaceholderPlaceholderAoGCCqGSM49AwEHoUQDQgAE" * 2
    pem = f"-----BEGIN EC PRIVATE KEY-----{body}-----END EC PRIVATE KEY-----"  # pragma: allowlist secret (placeholder)
    r = _create(api(alice), exchange="coinbase", api_key="organizations/org-1/apiKeys/key-1", secret=pem)
    assert r.status_code == 201, r.content
    secret = key_credentials(key=ExchangeKey.objects.get(pk=r.json()["id"])).secret
    lines = secret.strip().split("\n")
    assert lines[0] == "-----BEGIN EC PRIVATE KEY-----" and lines[-1] == "-----END EC PRIVATE KEY-----"  # pragma: allowlist secret (placeholder)
    assert "".join(lines[1:-1]) == body and max(len(line) for line in lines[1:-1]) == 64


def test_an_exchange_that_needs_a_passphrase_asks_for_it(api, alice):
    r = _create(api(alice), exchange="okx")
    assert r.status_code == 400 and "passphrase" in r.json()["error"]["fields"]


def test_several_keys_per_exchange_need_distinct_labels(api, alice):
    c = api(alice)
    assert _create(c, label="main").status_code == 201
    assert _create(c, label="second").status_code == 201
    dup = _create(c, label="main")
    assert dup.status_code == 400 and "already have a binance key labelled 'main'" in dup.json()["error"]["message"]


def test_relabel_and_delete_are_audited_without_secrets(api, alice):
    c = api(alice)
    key_id = _create(c).json()["id"]
    assert c.patch(f"/api/keys/{key_id}/", {"label": "trading"}, format="json").json()["label"] == "trading"
    assert c.delete(f"/api/keys/{key_id}/").status_code == 204
    assert not ExchangeKey.objects.filter(pk=key_id).exists()
    actions = list(AuditEvent.objects.filter(actor=alice, action__startswith="key.").values_list("action", flat=True))
    assert sorted(actions) == ["key.create", "key.delete", "key.relabel"]


def test_revoke_all_deletes_every_key_of_the_user_only(api, alice, bob):
    _create(api(alice), label="one")
    _create(api(alice), label="two")
    _create(api(bob), label="bobs")
    r = api(alice).post("/api/keys/revoke-all/")
    assert r.json() == {"deleted": 2}
    assert list(ExchangeKey.objects.values_list("owner__username", flat=True)) == ["bob"]
    assert AuditEvent.objects.filter(action="key.revoke_all", actor=alice).exists()


def test_old_keys_are_flagged_for_rotation(api, alice, settings):
    key_id = _create(api(alice)).json()["id"]
    from datetime import timedelta

    from django.utils import timezone
    ExchangeKey.objects.filter(pk=key_id).update(created_at=timezone.now() - timedelta(days=91))
    body = api(alice).get(f"/api/keys/{key_id}/").json()
    assert body["rotate_due"] is True and body["age_days"] == 91
    settings.KEY_ROTATE_AFTER_DAYS = 120
    assert api(alice).get(f"/api/keys/{key_id}/").json()["rotate_due"] is False


@pytest.mark.parametrize("method, suffix", [("get", ""), ("patch", ""), ("delete", ""), ("post", "test/")])
def test_bob_gets_404_for_each_of_alices_key_endpoints(api, alice, bob, method, suffix):
    key_id = _create(api(alice)).json()["id"]
    r = getattr(api(bob), method)(f"/api/keys/{key_id}/{suffix}", {"label": "mine now"}, format="json")
    assert r.status_code == 404
    assert ExchangeKey.objects.get(pk=key_id).label == "main"
    assert key_id not in [k["id"] for k in api(bob).get("/api/keys/").json()]


def test_keys_need_authentication(anon):
    assert anon.get("/api/keys/").status_code == 401
    assert _create(anon).status_code == 401


def test_a_testnet_key_for_an_exchange_without_a_testnet_is_refused_on_save(api, alice):
    r = _create(api(alice), exchange="kraken", sandbox=True)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "sandbox_unavailable" and "sandbox" in error["fields"]
    assert not ExchangeKey.objects.exists()
