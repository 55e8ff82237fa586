"""POST /api/auth/password/ and the password page: the change ends every other token and session."""

import pytest
from django.test import Client

from accounts.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase 77"


def _login(anon, password=PASSWORD):
    r = anon.post("/api/auth/login/", {"username": "alice", "password": password}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def _me(anon, access):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    code = anon.get("/api/auth/me/").status_code
    anon.credentials()
    return code


def _refresh(anon, refresh):
    return anon.post("/api/auth/refresh/", {"refresh_token": refresh}, format="json").status_code


def test_changing_the_password_by_api_ends_every_other_token_and_answers_a_fresh_pair(anon, alice):
    phone, laptop = _login(anon), _login(anon)
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop['access_token']}")
    r = anon.post("/api/auth/password/", {"old_password": PASSWORD, "new_password": NEW}, format="json")
    anon.credentials()
    assert r.status_code == 200, r.content
    fresh = r.json()
    assert fresh["token_type"] == "bearer" and fresh["access_token"] and fresh["refresh_token"]
    # every token from before, including the caller's own old pair, is dead
    for pair in (phone, laptop):
        assert _me(anon, pair["access_token"]) == 401
        assert _refresh(anon, pair["refresh_token"]) == 401
    # the pair the change answered with works, and so does the new password
    assert _me(anon, fresh["access_token"]) == 200
    assert _refresh(anon, fresh["refresh_token"]) == 200
    _login(anon, NEW)
    assert anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD},
                     format="json").status_code == 401
    assert AuditEvent.objects.filter(action="password.change", actor=alice).exists()


def test_a_wrong_old_password_changes_nothing(anon, alice):
    pair = _login(anon)
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    r = anon.post("/api/auth/password/", {"old_password": "not it", "new_password": NEW}, format="json")
    assert r.status_code == 403
    assert r.json()["error"]["fields"]["old_password"]
    assert anon.get("/api/auth/me/").status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_weak_new_password_is_refused_with_the_reason(anon, alice):
    pair = _login(anon)
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    r = anon.post("/api/auth/password/", {"old_password": PASSWORD, "new_password": "123"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["fields"]["new_password"]
    assert anon.get("/api/auth/me/").status_code == 200


def test_the_password_change_needs_a_token(anon, alice):
    r = anon.post("/api/auth/password/", {"old_password": PASSWORD, "new_password": NEW}, format="json")
    assert r.status_code == 401


def test_changing_the_password_on_the_page_ends_api_tokens_and_other_sessions_but_keeps_this_one(anon, alice):
    pair = _login(anon)
    other, me = Client(), Client()
    other.force_login(alice)
    me.force_login(alice)
    r = me.post("/password/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})
    assert r.status_code == 302, r.content[:500]
    assert _me(anon, pair["access_token"]) == 401
    assert _refresh(anon, pair["refresh_token"]) == 401
    assert me.get("/api/auth/me/").status_code == 200  # the session that made the change stays in
    assert other.get("/api/auth/me/").status_code in (401, 403)
