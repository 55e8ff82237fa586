"""Redis down: every operation of the schema and every page degrades the same way, never a 500.

The paths come from the OpenAPI schema and the URL resolver, so new endpoints are covered by themselves.
With Redis unreachable (cache, throttles, token checks, tickers, locks: nothing listens on its port), each
API answer is JSON; one that cannot be served is 503 in the one error shape with a Retry-After, and pages
answer 503 with Retry-After too. PostgreSQL down, the same sweep against a real web process:
tests/deploy/test_health_processes.py.
"""

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from tests.api.test_authorization_sweep import _fill, alices  # noqa: F401 - alice's objects, one of each
from tests.pages.test_bad_form_input import _page_urls

pytestmark = pytest.mark.django_db
NO_STORE = {"/api/health/ping/", "/api/schema/", "/api/docs/"}  # answer from the process alone, by design


@pytest.fixture
def redis_down(settings):
    dead = "redis://127.0.0.1:9/0"  # the discard port: nothing listens
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    settings.REDIS_URL = dead
    return dead


def _unavailable(r) -> str | None:
    """None if the answer is a proper 503 (or a normal answer); else what is wrong with it."""
    if r.status_code >= 500 and r.status_code != 503:
        return f"{r.status_code}"
    if r.status_code == 503 and not r.get("Retry-After", "").isdigit():
        return "503 without Retry-After"
    return None


def test_every_api_operation_answers_503_json_with_retry_after_while_redis_is_down(alices, api, alice,  # noqa: F811
                                                                                  anon, redis_down):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    as_alice = api(alice)
    for client in (as_alice, anon):
        client.raise_request_exception = False
    problems, answers = [], {}
    for path, ops in schema["paths"].items():
        for method, _op in ops.items():
            url = _fill(path, alices)
            for who, client in (("alice", as_alice), ("anon", anon)):
                r = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)
                answers[r.status_code] = answers.get(r.status_code, 0) + 1
                what = f"{who} {method.upper()} {url} -> {r.status_code}"
                if not r["Content-Type"].startswith("application/json") and path != "/api/docs/":
                    problems.append(f"{what}: {r['Content-Type']}")
                    continue
                wrong = _unavailable(r)
                if wrong:
                    problems.append(f"{what}: {wrong}")
                elif r.status_code == 503 and path == "/api/health/":
                    if r.json()["status"] != "down":  # its own body: every component's state
                        problems.append(f"{what}: {r.json()}")
                elif r.status_code == 503:
                    body = r.json()["error"]
                    if body["code"] != "service_unavailable" or not body["message"]:
                        problems.append(f"{what}: {body}")
                elif r.status_code < 300 and path not in NO_STORE and who == "alice":
                    problems.append(f"{what}: served as if Redis were up")  # every signed-in call checks Redis
    assert answers.get(503, 0) > 60, answers  # every signed-in operation (anonymous ones: mostly 401)
    assert not problems, f"{len(problems)}:\n" + "\n".join(problems[:40])


def test_every_page_answers_503_with_retry_after_while_redis_is_down(alices, alice, redis_down):  # noqa: F811
    signed_in, anon = Client(raise_request_exception=False), Client(raise_request_exception=False)
    signed_in.force_login(alice)  # (sessions live in the database)
    problems, sent = [], 0
    for path, _name in _page_urls():
        if "<" in path.replace("<int:pk>", "").replace("<int:order_id>", ""):
            continue  # reset links carry their own signed token
        url = _fill(path, alices)
        for client in (signed_in, anon):
            for method in ("get", "post"):
                r = getattr(client, method)(url)
                sent += 1
                wrong = _unavailable(r)
                if wrong:
                    problems.append(f"{method.upper()} {url} -> {wrong}")
    assert sent > 30
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems[:40])
