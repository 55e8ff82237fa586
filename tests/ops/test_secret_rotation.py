"""The SECRET_KEY rotation in docs/operations.md: with the old key in SECRET_KEY_FALLBACKS a signed-in
browser stays signed in; without it the session ends (what you want after a leak)."""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signed_in(settings, alice) -> Client:
    client = Client()
    assert client.login(username=alice.username, password=PASSWORD)
    assert client.get("/api/auth/me/").status_code == 200
    return client


def test_a_rotated_secret_key_keeps_sessions_with_the_old_key_as_fallback(settings, alice):
    client = _signed_in(settings, alice)
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, [old]
    assert client.get("/api/auth/me/").status_code == 200


def test_a_rotated_secret_key_without_fallback_ends_every_session(settings, alice):
    client = _signed_in(settings, alice)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, []
    assert client.get("/api/auth/me/").status_code in (401, 403)
