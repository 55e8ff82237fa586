import pytest

from accounts.models import AuditEvent, User

URL = "/api/auth/register/"
pytestmark = pytest.mark.django_db


def test_it_creates_an_account_and_returns_the_sanitized_user(anon):
    r = anon.post(URL, {"username": "dora", "email": "dora@example.com", "password": "a long and fine passphrase"},
                  format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"id", "username", "email", "date_joined", "is_staff", "totp_enabled"}
    assert body["username"] == "dora" and body["is_staff"] is False
    user = User.objects.get(username="dora")
    assert user.check_password("a long and fine passphrase")
    assert AuditEvent.objects.filter(action="user.signup", actor=user).exists()


def test_it_refuses_a_weak_password_with_a_message(anon):
    r = anon.post(URL, {"username": "dora", "password": "123"}, format="json")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid" and "password" in err["fields"]
    assert not User.objects.filter(username="dora").exists()


def test_it_refuses_a_taken_username_in_any_case(anon, alice):
    r = anon.post(URL, {"username": "ALICE", "password": "a long and fine passphrase"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["fields"]["username"] == ["That username is taken."]


def test_it_explains_missing_fields(anon):
    r = anon.post(URL, {}, format="json")
    assert r.status_code == 400
    assert set(r.json()["error"]["fields"]) == {"username", "password"}


def test_it_answers_malformed_json_with_400_not_500(anon):
    r = anon.generic("POST", URL, "{not json", content_type="application/json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "parse_error"
