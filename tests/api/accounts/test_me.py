import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_describes_the_signed_in_user(api, alice):
    r = api(alice).get("/api/auth/me/")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == alice.pk and body["username"] == "alice" and body["email"] == "alice@example.com"
    assert body["is_staff"] is False and body["totp_enabled"] is False
    assert body["date_joined"].endswith("Z") or "+00:00" in body["date_joined"]


def test_it_never_contains_anything_sensitive(anon, alice):
    pair = anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json").json()
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    text = anon.get("/api/auth/me/").content.decode()
    alice.refresh_from_db()
    for secret in (alice.password, PASSWORD, pair["access_token"], pair["refresh_token"], "password", "secret",
                   "token"):
        assert secret not in text


def test_it_is_401_without_a_token(anon):
    assert anon.get("/api/auth/me/").status_code == 401
