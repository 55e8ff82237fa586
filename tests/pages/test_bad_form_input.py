"""Pages never answer bad input with a 500: every page URL, fed garbage forms and query strings.

Each page URL (with the user's own objects, ids that do not exist and ids that do not fit a database
integer) gets GETs with junk query strings and POSTs with empty, wrong-typed, oversized and NUL-carrying
form fields. The answers may be a page with the form's errors, a redirect, 403/404/405 — never a 500.
Sending a channel test and testing a key reach out to other hosts, so they only get an empty POST's
refusal path with an id that does not exist.
"""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver

from keys.services import key_create
from notifications.services import channel_create
from trading.models import Order
from trading.services.bots import bot_create

pytestmark = pytest.mark.django_db

FIELDS = ["name", "label", "symbol", "exchange", "strategy", "params", "starting_balance", "mode", "scope",
          "password", "code", "reason", "next", "fill_overrides", "api_key", "secret", "kind", "webhook_url",
          "apprise_url", "events", "min_severity", "max_position_quote", "max_open_trades", "daily_loss_pct",
          "interval_minutes", "order_amount", "confirm", "new_password1", "new_password2", "old_password",
          "flatten", "reduce_only", "timeframe", "bars", "param_fast", "param_slow"]
VALUES = ["", "abc", "-1", "99999999999999999999999", "1e999", "NaN", "\x00", "x" * 5000, "{", "[1]",
          "//evil.example.com/", "https://evil.example.com/"]
REACHES_OUT = {"key-test", "notification-channel-test"}


def _page_urls():
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern), p.name

    return [(f"/{path}", name) for path, name in walk(get_resolver().url_patterns)
            if not path.startswith(("api/", "admin/", "static/", "ws/")) and name not in {"logout"}]


@pytest.fixture
def owned(alice, settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    bot = bot_create(owner=alice, name="fuzz", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("100"))
    order = Order.objects.create(bot=bot, client_id="1:1", side="buy", type="limit", amount=Decimal("0.1"),
                                 price=Decimal("90"), status="open")
    key = key_create(owner=alice, exchange="binance", label="main", api_key="placeholder-api-key-0001",
                     secret="placeholder-secret-0001")
    channel = channel_create(owner=alice, kind="apprise", name="hook", apprise_url="json://127.0.0.1:9/x")
    return {"bot": bot.pk, "order": order.pk, "key": key.pk, "channel": channel.pk}


def _urls(path: str, name: str, owned: dict) -> list[str]:
    own = owned["channel" if "channel" in name else "key" if name.startswith("key") else "bot"]
    ids = [987654321] if name in REACHES_OUT else [own, 987654321, 99999999999999999999]
    out = []
    for value in ids:
        out.append(path.replace("<int:pk>", str(value)).replace("<int:order_id>", str(owned["order"])))
    if "<int:order_id>" in path:
        out.append(path.replace("<int:pk>", str(own)).replace("<int:order_id>", "99999999999999999999"))
    return list(dict.fromkeys(out))


def test_no_page_answers_bad_input_with_a_500(alice, owned):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    problems: list[str] = []
    sent = 0
    for path, name in _page_urls():
        for url in _urls(path, name, owned):
            for value in VALUES:
                response = client.get(url, {"next": value, "page": value, "symbol": value, "run": value})
                sent += 1
                if response.status_code >= 500:
                    problems.append(f"GET {url} ?…={value[:20]!r} -> {response.status_code}")
            if name in REACHES_OUT:
                continue
            for value in VALUES:
                response = client.post(url, {field: value for field in FIELDS})
                sent += 1
                if response.status_code >= 500:
                    problems.append(f"POST {url} all fields={value[:20]!r} -> {response.status_code}")
            response = client.post(url, {})
            sent += 1
            if response.status_code >= 500:
                problems.append(f"POST {url} empty -> {response.status_code}")
    assert sent > 500
    assert not problems, f"{len(problems)} of {sent} requests:\n" + "\n".join(problems[:40])
