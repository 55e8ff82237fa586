"""Bad input never gets a 500: every operation of the OpenAPI schema, fed garbage.

For each path and method the schema lists, with the caller's own objects in the path (and ids that
do not exist or do not fit a database integer), this sends: malformed JSON, JSON that is not an
object, an empty object, and every request field set in turn to values of the wrong type or range;
query parameters get the same treatment. Every answer must be below 500, and every 4xx answer must
say what was wrong (the one error shape: {"error": {"code", "message", ...}}).

Two operations are only called with an empty body: sending a test message to a channel and testing an
exchange key reach out to the channel's or exchange's host, and tests stay on 127.0.0.1.
"""

import json
from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator

from keys.services import key_create
from notifications.services import channel_create
from trading.models import Order
from trading.services.bots import bot_create
from trading.services.watchlist import watch_add

pytestmark = pytest.mark.django_db

REACHES_OUT = {("/api/keys/{id}/test/", "post"), ("/api/notifications/channels/{id}/test/", "post")}
WRONG_VALUES = [None, "", "abc", -1, 0, 10**30, 1.5e300, "1e999", "NaN", "-Infinity", {"a": 1}, [1, 2], True,
                "x" * 5000, "\u0000"]
QUERY_VALUES = ["abc", "-1", "0", "99999999999999999999999", "", "1e999", "NaN", "2026-13-45", "\u0000", "x" * 3000]


def _schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _fields(schema, op) -> list[str]:
    body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    component = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], body) if ref else body
    return sorted((component.get("properties") or {}).keys())


@pytest.fixture
def owned(alice, settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    bot = bot_create(owner=alice, name="fuzz", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("100"))
    order = Order.objects.create(bot=bot, client_id="1:1", side="buy", type="limit", amount=Decimal("0.1"),
                                 price=Decimal("90"), status="open")
    key = key_create(owner=alice, exchange="binance", label="main", api_key="placeholder-api-key-0001",
                     secret="placeholder-secret-0001")
    channel = channel_create(owner=alice, kind="apprise", name="hook", apprise_url="json://127.0.0.1:9/x")
    item, _ = watch_add(user=alice, exchange="binance", symbol="ETH/USDT")
    return {"bot": bot.pk, "order": order.pk, "key": key.pk, "channel": channel.pk, "watch": item.pk}


def _paths(path: str, owned: dict) -> list[str]:
    own = ("channel" if "/notifications/channels/" in path else "key" if path.startswith("/api/keys/")
           else "watch" if path.startswith("/api/watchlist/") else "bot")
    out = []
    for value in (owned[own], 987654321, 99999999999999999999):
        out.append(path.replace("{id}", str(value)).replace("{order_id}", str(owned["order"])))
    out.append(path.replace("{id}", str(owned[own])).replace("{order_id}", "99999999999999999999"))
    return list(dict.fromkeys(out))


def _check(response, what: str, problems: list[str]) -> None:
    if response.status_code == 503 and what.startswith("GET /api/health/"):
        return  # the health check's own answer: no Celery worker runs in this test
    if response.status_code >= 500:
        problems.append(f"{what} -> {response.status_code}")
        return
    if 400 <= response.status_code < 500 and response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(error, dict) and error.get("message")):
            problems.append(f"{what} -> {response.status_code} without an error message: {str(body)[:200]}")


def test_no_operation_answers_bad_input_with_a_500(alice, api, owned):
    schema = _schema()
    client = api(alice)
    client.raise_request_exception = False  # collect every 500 instead of stopping at the first
    problems: list[str] = []
    sent = 0
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/auth/logout") or path == "/api/system/emergency-stop/":
                continue  # covered below: they end the session / stop everything
            for url in _paths(path, owned):
                call = getattr(client, method)
                if method == "get":
                    params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
                    for name in params:
                        for value in QUERY_VALUES:
                            _check(call(url, {name: value}), f"GET {url}?{name}={value[:20]!r}", problems)
                            sent += 1
                    _check(call(url), f"GET {url}", problems)
                    sent += 1
                    continue
                if (path, method) in REACHES_OUT:
                    continue
                bodies = [("not json", "text{"), ("a list", "[1, 2]"), ("a string", '"x"'), ("empty", "{}")]
                for field in _fields(schema, op):
                    for value in WRONG_VALUES:
                        bodies.append((f"{field}={str(value)[:20]!r}", json.dumps({field: value})))
                for label, raw in bodies:
                    response = call(url, raw, content_type="application/json")
                    _check(response, f"{method.upper()} {url} [{label}]", problems)
                    sent += 1
    assert sent > 1000  # the whole schema was walked
    assert not problems, f"{len(problems)} of {sent} requests:\n" + "\n".join(problems[:40])


def test_the_stop_and_logout_refuse_garbage_clearly(alice, api):
    client = api(alice)
    client.raise_request_exception = False
    problems: list[str] = []
    for url in ("/api/system/emergency-stop/", "/api/auth/logout/"):
        for raw in ("text{", "[1]", '"x"', '{"scope": 5}', '{"scope": "everything"}', '{"mode": {"a": 1}}',
                    '{"refresh_token": 12}', '{"refresh_token": "not-a-token"}'):
            _check(client.post(url, raw, content_type="application/json"), f"POST {url} {raw}", problems)
    assert not problems, "\n".join(problems)
