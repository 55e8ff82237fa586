"""Every answer under /api/ is JSON in the one error shape: hostile JSON, oversized bodies, unknown paths, outages."""

import pytest

pytestmark = pytest.mark.django_db


def _shape(r, status):
    assert r.status_code == status, r.content[:300]
    assert r["Content-Type"].startswith("application/json"), r["Content-Type"]
    body = r.json()["error"]
    assert body["code"] and body["message"]
    return body


@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(api, alice, anon, depth):
    nested = "[" * depth + "]" * depth
    assert "nested too deep" in _shape(api(alice).post("/api/bots/", nested, content_type="application/json"),
                                       400)["message"]
    # before authentication too: the login endpoint parses the body of anyone
    _shape(anon.post("/api/auth/login/", '{"username": ' + nested + "}", content_type="application/json"), 400)


def test_json_nested_within_the_limit_is_still_read(api, alice):
    r = api(alice).post("/api/bots/", '{"name": "x", "params": ' + "[" * 20 + "]" * 20 + "}",
                        content_type="application/json")
    assert r.status_code == 400 and "nested" not in r.json()["error"]["message"]  # refused for its content


def test_an_oversized_body_is_a_json_413(api, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    _shape(api(alice).post("/api/bots/", '{"name": "' + "x" * 20_000 + '"}', content_type="application/json"), 413)


@pytest.mark.parametrize("path", ["/api/bots/abc/", "/api/nothing-here/", "/api/keys/1e9/test/"])
def test_unknown_api_paths_are_json_404s(api, alice, path):
    _shape(api(alice).get(path), 404)


def test_pages_keep_their_html_404(client):
    r = client.get("/no-such-page/")
    assert r.status_code == 404 and r["Content-Type"].startswith("text/html")


def test_login_while_redis_is_down_is_a_503_with_retry_after(anon, alice, settings):
    from tests.conftest import PASSWORD

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    r = anon.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json")
    body = _shape(r, 503)
    assert body["code"] == "service_unavailable" and int(r["Retry-After"]) > 0
