"""Staff see exchange keys masked in admin, can never read a secret, and can disable a key."""

import pytest
from django.test import Client

from accounts.models import AuditEvent
from keys.models import ExchangeKey
from keys.services import key_create

pytestmark = pytest.mark.django_db

API_KEY = "TESTAPIKEYplaceholder0123456789abcd"
SECRET = "TESTSECRETplaceholder9876543210zyxw"


@pytest.fixture
def staff_client(charlie):
    charlie.is_superuser = True
    charlie.save()
    c = Client()
    c.force_login(charlie)
    return c


@pytest.fixture
def key(alice):
    return key_create(owner=alice, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)


def test_staff_see_the_key_masked_and_no_secret_or_ciphertext(staff_client, key):
    pages = [staff_client.get("/admin/keys/exchangekey/"),
             staff_client.get(f"/admin/keys/exchangekey/{key.pk}/change/")]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "••••abcd" in html
        for hidden in (API_KEY, SECRET, key.api_key_enc, key.secret_enc):
            assert hidden not in html
    assert staff_client.get("/admin/keys/exchangekey/add/").status_code == 403  # staff never handle secrets


def test_the_disable_action_blocks_the_key_and_is_audited(staff_client, key, api, alice, charlie):
    r = staff_client.post("/admin/keys/exchangekey/", {"action": "disable_keys", "_selected_action": [key.pk]},
                          follow=True)
    assert "Disabled 1 key(s)." in r.content.decode()
    key.refresh_from_db()
    assert key.is_active is False and key.disabled_reason
    event = AuditEvent.objects.get(action="key.disable")
    assert event.actor == charlie and event.target == f"key:{key.pk}"
    assert SECRET not in str(event.details)
    # the owner sees it disabled and it can no longer be used
    assert api(alice).get(f"/api/keys/{key.pk}/").json()["is_active"] is False
    assert api(alice).post(f"/api/keys/{key.pk}/test/").status_code == 409
    assert ExchangeKey.objects.filter(is_active=True).count() == 0
