import jwt
import pytest
from django.conf import settings

from accounts.models import AuditEvent
from tests.conftest import PASSWORD

URL = "/api/auth/login/"
pytestmark = pytest.mark.django_db


def test_it_returns_a_bearer_token_pair(anon, alice):
    r = anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    claims = jwt.decode(body["access_token"], settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])
    assert str(claims["user_id"]) == str(alice.pk)
    assert AuditEvent.objects.filter(action="login.success", actor=alice).exists()


def test_the_access_token_opens_protected_endpoints(anon, alice):
    token = anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json").json()["access_token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon.get("/api/auth/me/").json()["username"] == "alice"


def test_it_answers_a_wrong_password_with_401_and_a_message(anon, alice):
    r = anon.post(URL, {"username": "alice", "password": "not it"}, format="json")
    assert r.status_code == 401
    assert r.json()["error"] == {"code": "invalid_credentials", "message": "Wrong username or password.",
                                 "fields": {}}
    failure = AuditEvent.objects.get(action="login.failure")
    assert failure.target == "username:alice" and "not it" not in str(failure.details)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(anon):
    r = anon.post(URL, {"username": "nobody", "password": "whatever"}, format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"


def test_a_deactivated_user_cannot_log_in(anon, alice):
    alice.is_active = False
    alice.save()
    assert anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json").status_code == 401


def test_a_stored_hash_upgrades_to_argon2_on_the_next_login(anon, make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    dora = make_user("dora")
    assert dora.password.startswith("pbkdf2_sha256$")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher",
                                 "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    assert anon.post(URL, {"username": "dora", "password": PASSWORD}, format="json").status_code == 200
    dora.refresh_from_db()
    assert dora.password.startswith("argon2$")
    assert dora.check_password(PASSWORD)
