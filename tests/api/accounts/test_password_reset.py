"""Forgot password, by email: pages and API, no user enumeration, throttled, every token ends on reset."""

import re

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mail_tasks_run_here")]
NEW = "a fresh and lengthy passphrase 31"
LINK = re.compile(r"https?://[^/\s]+/password/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


def _ask(anon, email, ip="10.1.0.1"):
    return anon.post("/api/auth/password-reset/", {"email": email}, format="json", REMOTE_ADDR=ip)


def test_a_known_and_an_unknown_address_get_the_same_answer_and_only_the_known_one_mail(anon, alice):
    known, unknown = _ask(anon, "alice@example.com"), _ask(anon, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert LINK.search(mail.outbox[0].body)


def test_the_link_sets_a_new_password_once_and_ends_every_token(anon, alice):
    pair = anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json").json()
    _ask(anon, "ALICE@example.com")
    link = LINK.search(mail.outbox[0].body)
    body = {"uid": link["uid"], "token": link["token"], "new_password": NEW}
    r = anon.post("/api/auth/password-reset/confirm/", body, format="json")
    assert r.status_code == 200, r.content
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert anon.get("/api/auth/me/").status_code == 401
    anon.credentials()
    assert anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401
    assert anon.post("/api/auth/login/", {"username": "alice", "password": NEW}, format="json").status_code == 200
    again = anon.post("/api/auth/password-reset/confirm/", {**body, "new_password": "yet another passphrase 9"},
                      format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "reset_link_invalid"


@pytest.mark.parametrize("uid", ["", "!!", "MTIzNDU2Nzg5", "x" * 60])
def test_a_bad_link_is_a_clear_400(anon, alice, uid):
    r = anon.post("/api/auth/password-reset/confirm/", {"uid": uid or "a", "token": "abc-def", "new_password": NEW},
                  format="json")
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_a_weak_new_password_is_refused_and_the_link_still_works(anon, alice):
    _ask(anon, "alice@example.com")
    link = LINK.search(mail.outbox[0].body)
    r = anon.post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                        "new_password": "123"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"]["new_password"]
    r = anon.post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                        "new_password": NEW}, format="json")
    assert r.status_code == 200


def test_requests_are_throttled_per_address_quietly_and_per_ip_with_429(anon, alice, settings):
    settings.PASSWORD_RESET_MAX_PER_EMAIL = 2
    settings.PASSWORD_RESET_MAX_PER_IP = 5
    codes = [_ask(anon, "alice@example.com", ip=f"10.1.1.{i}").status_code for i in range(4)]
    assert codes == [202] * 4 and len(mail.outbox) == 2  # the mailbox is not flooded; the answer does not change
    codes = [_ask(anon, f"x{i}@example.com", ip="10.1.2.1").status_code for i in range(7)]
    assert codes[:5] == [202] * 5 and codes[5:] == [429, 429]


def test_the_pages_reset_a_password_and_sign_out_other_sessions(alice):
    other = Client()
    other.force_login(alice)
    page = Client()
    assert b"Forgot your password?" in page.get("/login/").content
    r = page.post("/password/reset/", {"email": "alice@example.com"})
    assert r.status_code == 302 and r["Location"] == "/password/reset/sent/"
    link = LINK.search(mail.outbox[0].body)
    r = page.get(f"/password/reset/{link['uid']}/{link['token']}/", follow=True)
    assert b"Choose a new password" in r.content
    r = page.post(r.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert r.status_code == 302 and r["Location"] == "/password/reset/done/"
    assert other.get("/api/auth/me/").status_code in (401, 403)
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert page.post("/password/reset/", {"email": "nobody@example.com"})["Location"] == "/password/reset/sent/"
