"""Authorization sweep: every operation of the schema and every page, as another user and with no token.

Covers new endpoints by itself: the paths come from the OpenAPI schema and the URL resolver. Another
user (bob) gets 403/404 for every operation on alice's objects and sees none of them in any answer,
lists filtered by alice's ids included; nobody without a token gets anything but 401 (API) or the
login page (pages); and alice's objects are untouched afterwards.
"""

from decimal import Decimal

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from keys.models import ExchangeKey
from keys.services import key_create
from notifications.models import Channel
from tests.pages.test_bad_form_input import _page_urls
from trading.models import Bot, Order
from trading.services.bots import bot_create
from trading.services.watchlist import watch_add

pytestmark = pytest.mark.django_db
PUBLIC = {"/api/auth/register/", "/api/auth/login/", "/api/auth/login/totp/", "/api/auth/refresh/",
          "/api/auth/password-reset/", "/api/auth/password-reset/confirm/", "/api/health/", "/api/health/ping/",
          "/api/schema/", "/api/docs/"}
MARK = "alice-private"


@pytest.fixture
def alices(alice, settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    bot = bot_create(owner=alice, name=f"{MARK}-bot", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("100"))
    order = Order.objects.create(bot=bot, client_id="1:1", side="buy", type="limit", amount=Decimal("0.1"),
                                 price=Decimal("90"), status="open")
    key = key_create(owner=alice, exchange="binance", label=f"{MARK}-key", api_key="placeholder-api-key-0001",
                     secret="placeholder-secret-0001")
    from notifications.services import channel_create

    channel = channel_create(owner=alice, kind="apprise", name=f"{MARK}-channel", apprise_url="json://127.0.0.1:9/x")
    item, _ = watch_add(user=alice, exchange="binance", symbol="ETH/USDT")
    return {"bot": bot.pk, "order": order.pk, "key": key.pk, "channel": channel.pk, "watch": item.pk}


def _own(path: str) -> str:
    return ("channel" if "/channels/" in path else "key" if "/keys/" in path
            else "watch" if "/watchlist/" in path else "bot")


def _fill(path: str, ids: dict) -> str:
    return (path.replace("{id}", str(ids[_own(path)])).replace("{order_id}", str(ids["order"]))
            .replace("<int:pk>", str(ids[_own(path)])).replace("<int:order_id>", str(ids["order"])))


def _state(ids):
    bot = Bot.objects.get(pk=ids["bot"])
    return (bot.status, bot.name, Order.objects.get(pk=ids["order"]).status, ExchangeKey.objects.filter(
        pk=ids["key"]).count(), Channel.objects.filter(pk=ids["channel"]).values_list("is_active", "name").first())


def test_bob_and_nobody_get_nothing_of_alices_through_the_api(alices, api, bob, anon):
    before = _state(alices)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    as_bob = api(bob)
    for client in (as_bob, anon):
        client.raise_request_exception = False
    problems, sent = [], 0
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if path in PUBLIC:
                continue
            url = _fill(path, alices)
            body = {} if method != "get" else None
            r = getattr(anon, method)(url, body, format="json") if body is not None else anon.get(url)
            sent += 1
            if r.status_code != 401:
                problems.append(f"anon {method.upper()} {url} -> {r.status_code}")
            if "{" not in path and method != "get":
                continue  # bob's own create/stop actions are not about alice's objects
            queries = [None]
            if method == "get":
                queries += [{p["name"]: str(alices[_own(p["name"]) if p["name"] != "bot" else "bot"])}
                            for p in op.get("parameters", []) if p.get("in") == "query"]
            for query in queries:
                if body is not None:
                    r = getattr(as_bob, method)(url, body, format="json")
                else:
                    r = as_bob.get(url, query or {})
                sent += 1
                text = r.content.decode(errors="replace")
                what = f"bob {method.upper()} {url} {query or ''}"
                if "{" in path and r.status_code not in (403, 404, 405) or r.status_code >= 500:
                    problems.append(f"{what} -> {r.status_code}")
                if MARK in text:
                    problems.append(f"{what} shows alice's object: {text[:160]}")
    assert sent > 100
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems[:40])
    assert _state(alices) == before


def test_bob_and_nobody_get_nothing_of_alices_through_the_pages(alices, bob):
    before = _state(alices)
    as_bob, anon = Client(raise_request_exception=False), Client(raise_request_exception=False)
    as_bob.force_login(bob)
    problems, sent = [], 0
    for path, name in _page_urls():
        if "<" in path.replace("<int:pk>", "").replace("<int:order_id>", ""):
            continue  # reset links carry their own signed token
        url = _fill(path, alices)
        for method in ("get", "post"):
            r = getattr(anon, method)(url)
            sent += 1
            if name not in {"login", "login_totp", "signup", "password_reset", "password_reset_done",
                            "password_reset_complete"} and not (
                    r.status_code in (401, 403, 404, 405) or (r.status_code == 302 and "/login/" in r["Location"])):
                problems.append(f"anon {method.upper()} {url} -> {r.status_code} {r.get('Location', '')}")
            if "<int:" not in path:
                continue
            r = getattr(as_bob, method)(url)
            sent += 1
            if r.status_code not in (403, 404, 405):
                problems.append(f"bob {method.upper()} {url} -> {r.status_code} {r.get('Location', '')}")
            if MARK in r.content.decode(errors="replace"):
                problems.append(f"bob {method.upper()} {url} shows alice's object")
    assert sent > 30
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems[:40])
    assert _state(alices) == before
