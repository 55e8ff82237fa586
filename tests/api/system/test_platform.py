"""The platform under the tests is the real one: PostgreSQL, Redis, CORS as configured."""

import pytest
from django.core.cache import cache
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_suite_runs_on_postgresql_and_a_real_redis():
    assert connection.vendor == "postgresql"
    client = cache._cache.get_client()
    assert client.ping() is True and "redis_version" in client.info("server")


def test_cors_allows_configured_spa_origins_only(anon, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    ok = anon.options("/api/auth/login/", HTTP_ORIGIN="https://app.example.com",
                      HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert ok.headers.get("Access-Control-Allow-Origin") == "https://app.example.com"
    other = anon.options("/api/auth/login/", HTTP_ORIGIN="https://evil.example.net",
                         HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in other.headers


def test_an_unknown_api_path_is_a_json_404_not_a_500(api, alice):
    r = api(alice).get("/api/keys/999999/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
