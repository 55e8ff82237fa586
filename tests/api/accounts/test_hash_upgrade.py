"""Stored password hashes upgrade on the next login when the argon2 cost changes (not only the hasher)."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import Argon2PasswordHasher

from accounts.hashers import PlatformArgon2PasswordHasher
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


class CheapArgon2(Argon2PasswordHasher):
    """What an older deployment might have used: a lower time and memory cost."""

    time_cost = 1
    memory_cost = 8192


def _params(encoded: str) -> str:
    return encoded.split("$")[3]  # argon2$argon2id$v=19$m=...,t=...,p=...$salt$hash


def test_a_cheaper_argon2_hash_is_rehashed_at_the_default_cost_on_login(anon, make_user, settings):
    settings.PASSWORD_HASHERS = ["tests.api.accounts.test_hash_upgrade.CheapArgon2"]
    dora = make_user("dora")
    old = dora.password
    assert old.startswith("argon2$") and "t=1" in _params(old)

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    r = anon.post("/api/auth/login/", {"username": "dora", "password": PASSWORD}, format="json")
    assert r.status_code == 200
    dora.refresh_from_db()
    default = Argon2PasswordHasher()
    assert dora.password != old
    assert _params(dora.password) == f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}"
    assert dora.check_password(PASSWORD)


def test_the_platform_hasher_keeps_verifying_eight_lane_hashes_and_moves_them_to_one_lane(anon, make_user,
                                                                                           settings):
    production = [h for h in django_settings.PASSWORD_HASHERS if "MD5" not in h]  # the conftest puts a fast one first
    assert production[0] == "accounts.hashers.PlatformArgon2PasswordHasher"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]  # Django's: 8 lanes
    dora = make_user("dora")
    old = dora.password
    assert _params(old).endswith(",p=8")

    settings.PASSWORD_HASHERS = production
    r = anon.post("/api/auth/login/", {"username": "dora", "password": PASSWORD}, format="json")
    assert r.status_code == 200  # the old hash still verifies
    dora.refresh_from_db()
    ours = PlatformArgon2PasswordHasher()
    assert _params(dora.password) == f"m={ours.memory_cost},t={ours.time_cost},p=1"
    assert dora.check_password(PASSWORD) and not dora.check_password("wrong-password")
