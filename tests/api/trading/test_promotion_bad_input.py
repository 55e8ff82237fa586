"""Bad input to every promotion endpoint, with live trading ON and a request waiting: never a 500, always a
4xx with a message, and nothing changes (no bot goes live, no attempt is spent on malformed input)."""

import json

import pytest

from tests.api.test_bad_input import WRONG_VALUES
from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.models import PromotionRequest

pytestmark = pytest.mark.django_db


def test_garbage_to_every_promotion_endpoint_is_a_clear_4xx_and_changes_nothing(api, alice, eligible_bot, approver):
    owner, staff = api(alice), api(approver)
    for c in (owner, staff):
        c.raise_request_exception = False
    assert owner.post(f"/api/bots/{eligible_bot.pk}/promotion/", {"allocation": "500"}, format="json").status_code == 201
    assert owner.post(f"/api/bots/{eligible_bot.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"},
                      format="json").status_code == 200
    pk = PromotionRequest.objects.get().pk
    targets = [(owner, f"/api/bots/{eligible_bot.pk}/promotion/", ["allocation"]),
               (owner, f"/api/bots/{eligible_bot.pk}/promotion/confirm/", ["phrase", "totp"]),
               (staff, f"/api/promotions/{pk}/approve/", ["note"]),
               (staff, f"/api/promotions/{pk}/reject/", ["note"])]
    problems, sent = [], 0
    for client, url, fields in targets:
        bodies = ["text{", "[1, 2]", '"x"', *[json.dumps({f: v}) for f in fields for v in WRONG_VALUES
                                              if not (f == "note" and isinstance(v, str) and len(v) <= 500
                                                      and "\u0000" not in v)]]
        for raw in bodies:
            r = client.post(url, raw, content_type="application/json")
            sent += 1
            if not (400 <= r.status_code < 500) or not r.json().get("error", {}).get("message"):
                problems.append(f"POST {url} {raw[:40]} -> {r.status_code} {r.content[:120]!r}")
    for value in ("abc", "\u0000", "x" * 3000, "1"):
        r = staff.get("/api/promotions/", {"status": value})
        sent += 1
        if r.status_code != 400:
            problems.append(f"GET /api/promotions/?status={value[:10]!r} -> {r.status_code}")
    assert sent > 60 and not problems, "\n".join(problems)
    promotion = PromotionRequest.objects.get()
    assert promotion.status == "pending_approval" and promotion.attempts == 0
    assert not Bot.objects.filter(mode="live").exists()


def test_garbage_to_demote_is_never_a_500_and_another_users_bot_is_a_404(api, alice, bob, eligible_bot):
    owner, other = api(alice), api(bob)
    for c in (owner, other):
        c.raise_request_exception = False
    url = f"/api/bots/{eligible_bot.pk}/demote/"
    for raw in ["text{", "[1, 2]", '"x"', *[json.dumps({"mode": v}) for v in WRONG_VALUES]]:
        r = owner.post(url, raw, content_type="application/json")
        assert r.status_code < 500 and r["Content-Type"].startswith("application/json"), (raw[:40], r.status_code)
    r = other.post(url, {}, format="json")
    assert r.status_code == 404 and r.json()["error"]["message"]
    for bad in ("/api/bots/abc/demote/", "/api/bots/999999999/demote/"):
        r = owner.post(bad, {}, format="json")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad
    eligible_bot.refresh_from_db()
    assert eligible_bot.mode == "paper"
