"""The Keys page's form actions: only the owner's keys; another user's key id is a 404 and nothing changes."""

import pytest
from django.test import Client

from keys.models import ExchangeKey
from keys.services import key_create

pytestmark = pytest.mark.django_db

API_KEY = "TESTAPIKEYplaceholder0123456789abcd"
SECRET = "TESTSECRETplaceholder9876543210zyxw"


@pytest.fixture
def alices_key(alice):
    return key_create(owner=alice, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.mark.parametrize("action", ["test", "delete", "relabel"])
def test_bob_gets_404_for_alices_key_on_the_page(bob, alices_key, action):
    r = _client(bob).post(f"/keys/{alices_key.pk}/{action}/", {"label": "mine now"})
    assert r.status_code == 404
    key = ExchangeKey.objects.get(pk=alices_key.pk)
    assert key.label == "main" and key.last_tested_at is None


def test_revoke_all_on_the_page_touches_only_your_own_keys(alice, bob, alices_key):
    key_create(owner=bob, exchange="binance", label="bobs", api_key=API_KEY, secret=SECRET)
    r = _client(bob).post("/keys/revoke-all/")
    assert r.status_code == 302
    assert list(ExchangeKey.objects.values_list("label", flat=True)) == ["main"]


def test_the_key_pages_need_a_session(alices_key):
    anon = Client()
    assert anon.get("/keys/").status_code == 302
    assert anon.post(f"/keys/{alices_key.pk}/delete/").status_code == 302
    assert ExchangeKey.objects.filter(pk=alices_key.pk).exists()


def test_a_bad_key_on_the_page_shows_the_field_error_and_saves_nothing(alice):
    r = _client(alice).post("/keys/", {"exchange": "binance", "label": "main", "api_key": "has a space in it",
                                       "secret": SECRET})
    assert r.status_code == 200
    html = r.content.decode()
    assert "Must not contain spaces" in html and SECRET not in html
    assert not ExchangeKey.objects.exists()
