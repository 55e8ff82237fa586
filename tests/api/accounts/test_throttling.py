import pytest

pytestmark = pytest.mark.django_db


def test_brute_force_on_one_username_gets_429_with_retry_after(anon, alice, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "1000/min", "auth_username": "5/min"}}
    codes = [anon.post("/api/auth/login/", {"username": "alice", "password": f"guess{i}"}, format="json").status_code
             for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    r = anon.post("/api/auth/login/", {"username": "Alice", "password": "again"}, format="json")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["code"] == "throttled"
    # another username from the same address is not locked out by alice's throttle
    assert anon.post("/api/auth/login/", {"username": "bob", "password": "x"}, format="json").status_code == 401


def test_one_ip_spraying_many_usernames_gets_429(anon, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "10/min", "auth_username": "1000/min"}}
    codes = [anon.post("/api/auth/login/", {"username": f"user{i}", "password": "x"}, format="json").status_code
             for i in range(12)]
    assert codes.count(429) == 2 and codes[-1] == 429


def test_registration_is_throttled_per_ip(anon, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "3/min", "auth_username": "1000/min"}}
    codes = [anon.post("/api/auth/register/", {"username": f"new{i}", "password": "a long and fine passphrase"},
                       format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
