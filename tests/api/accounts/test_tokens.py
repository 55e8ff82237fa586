"""Refresh rotation, logout, and every flavour of bad token on a protected endpoint."""

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import user_deactivate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(anon, alice):
    return anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json").json()


def _me(client, token):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/auth/me/")


def test_refresh_returns_a_new_pair_and_the_old_refresh_token_is_dead(anon, pair):
    r = anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json")
    assert r.status_code == 200, r.content
    new = r.json()
    assert new["token_type"] == "bearer" and new["refresh_token"] != pair["refresh_token"]
    assert _me(anon, new["access_token"]).status_code == 200
    anon.credentials()
    reused = anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"
    # and the rotated one still works once
    again = anon.post("/api/auth/refresh/", {"refresh_token": new["refresh_token"]}, format="json")
    assert again.status_code == 200


def test_refresh_with_garbage_is_401(anon):
    r = anon.post("/api/auth/refresh/", {"refresh_token": "not-a-token"}, format="json")
    assert r.status_code == 401 and "message" in r.json()["error"]


def test_refresh_with_an_access_token_is_refused(anon, pair):
    r = anon.post("/api/auth/refresh/", {"refresh_token": pair["access_token"]}, format="json")
    assert r.status_code == 401


def test_logout_blacklists_the_refresh_token(anon, pair):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    r = anon.post("/api/auth/logout/", {"refresh_token": pair["refresh_token"]}, format="json")
    assert r.status_code == 200
    anon.credentials()
    assert anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401


def test_logout_refuses_someone_elses_refresh_token(anon, api, bob, pair):
    r = api(bob).post("/api/auth/logout/", {"refresh_token": pair["refresh_token"]}, format="json")
    assert r.status_code == 401
    assert anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not.a.jwt", "Token abc", "Bearer " + "x" * 500])
def test_missing_or_malformed_tokens_get_401(anon, header):
    if header is not None:
        anon.credentials(HTTP_AUTHORIZATION=header)
    r = anon.get("/api/auth/me/")
    assert r.status_code == 401
    assert r.json()["error"]["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_access_token_gets_401(anon, alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=1))
    r = _me(anon, str(token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_not_valid"


def test_a_tampered_access_token_gets_401(anon, pair, bob):
    header, payload, signature = pair["access_token"].split(".")
    forged = AccessToken.for_user(bob)  # a real payload for bob, glued to alice's signature
    r = _me(anon, ".".join([header, str(forged).split(".")[1], signature]))
    assert r.status_code == 401


def test_a_token_signed_with_another_key_gets_401(anon, alice):
    import jwt

    claims = dict(AccessToken.for_user(alice).payload)
    assert settings.SIMPLE_JWT["SIGNING_KEY"] != "attacker-key-that-is-long-enough-for-hs256"
    r = _me(anon, jwt.encode(claims, "attacker-key-that-is-long-enough-for-hs256", algorithm="HS256"))
    assert r.status_code == 401


def test_deactivating_a_user_kills_their_tokens_at_once(anon, alice, charlie, pair):
    assert _me(anon, pair["access_token"]).status_code == 200
    user_deactivate(user=alice, actor=charlie)
    assert _me(anon, pair["access_token"]).status_code == 401
    anon.credentials()
    assert anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401
    # reactivation does not revive the old refresh token
    alice.is_active = True
    alice.save()
    assert anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401


def test_logout_ends_the_access_token_at_once_but_not_the_users_other_devices(anon, alice, pair):
    other = anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json").json()
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert anon.post("/api/auth/logout/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 200
    r = anon.get("/api/auth/me/")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_not_valid"
    assert _me(anon, other["access_token"]).status_code == 200


def test_a_deactivated_users_tokens_stay_dead_after_reactivation(anon, alice, charlie, pair):
    user_deactivate(user=alice, actor=charlie)
    alice.is_active = True
    alice.save()
    assert _me(anon, pair["access_token"]).status_code == 401
