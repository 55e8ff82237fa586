"""Risk policy API: view the limits that apply, tighten them per user and per bot, never loosen; events list."""

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from risk.models import RiskEvent, RiskPolicy
from tests.risk.conftest import create_bot
from trading.execution.safety import bot_halt

pytestmark = pytest.mark.django_db


def test_it_shows_platform_defaults_and_what_applies(api, alice):
    body = api(alice).get("/api/risk/policy/").json()
    assert body["platform"]["max_trades_per_day"] == 50
    assert Decimal(body["platform"]["daily_loss_pct"]) == 5
    assert body["user"] is None
    assert body["effective"]["max_trades_per_day"] == 50


def test_a_user_tightens_their_limits(api, alice):
    r = api(alice).patch("/api/risk/policy/", {"max_trades_per_day": 10, "daily_loss_pct": "2.5"}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["user"]["max_trades_per_day"] == 10 and body["effective"]["max_trades_per_day"] == 10
    assert Decimal(body["effective"]["daily_loss_pct"]) == Decimal("2.5")
    assert AuditEvent.objects.filter(actor=alice, action="risk_policy.tighten").exists()


def test_loosening_beyond_the_platform_is_a_409_that_says_why(api, alice):
    r = api(alice).patch("/api/risk/policy/", {"max_trades_per_day": 500}, format="json")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "policy_not_tighter"
    assert "at most 50" in err["fields"]["max_trades_per_day"][0]
    assert not RiskPolicy.objects.filter(scope="user", user=alice).exists()
    r = api(alice).patch("/api/risk/policy/", {"cooldown_minutes": 5}, format="json")  # shorter is looser
    assert r.status_code == 409 and "at least 60" in r.json()["error"]["fields"]["cooldown_minutes"][0]


def test_bad_values_are_400s(api, alice):
    assert api(alice).patch("/api/risk/policy/", {"daily_loss_pct": "-1"}, format="json").status_code == 400
    assert api(alice).patch("/api/risk/policy/", {"daily_loss_pct": "abc"}, format="json").status_code == 400
    assert api(alice).patch("/api/risk/policy/", {}, format="json").status_code == 400
    assert api(alice).patch("/api/risk/policy/", {"max_open_trades": 1.5}, format="json").status_code == 400


def test_a_bot_override_is_bounded_by_the_users_limits(api, alice):
    bot = create_bot(alice)
    api(alice).patch("/api/risk/policy/", {"max_open_trades": 4}, format="json")
    url = f"/api/risk/policy/bots/{bot.pk}/"
    r = api(alice).patch(url, {"max_open_trades": 6}, format="json")
    assert r.status_code == 409 and "at most 4" in r.json()["error"]["message"]
    r = api(alice).patch(url, {"max_open_trades": 2}, format="json")
    assert r.status_code == 200 and r.json()["effective"]["max_open_trades"] == 2 and r.json()["bot_id"] == bot.pk
    assert api(alice).get("/api/risk/policy/").json()["effective"]["max_open_trades"] == 4  # other bots


def test_someone_elses_bot_policy_is_404(api, alice, bob):
    bot = create_bot(alice)
    assert api(bob).get(f"/api/risk/policy/bots/{bot.pk}/").status_code == 404
    assert api(bob).patch(f"/api/risk/policy/bots/{bot.pk}/", {"max_open_trades": 1}, format="json").status_code == 404


def test_events_are_listed_for_their_owner_only_and_filter_by_bot(api, alice, bob):
    a1, a2 = create_bot(alice, name="one"), create_bot(alice, name="two")
    bot_halt(bot=a1, actor=alice, reason="first")
    bot_halt(bot=a2, actor=alice, reason="second")
    bot_halt(bot=create_bot(bob), actor=bob, reason="bob's")
    body = api(alice).get("/api/risk/events/").json()
    assert body["count"] == 2 and {e["bot_name"] for e in body["results"]} == {"one", "two"}
    only = api(alice).get(f"/api/risk/events/?bot={a1.pk}").json()
    assert [e["message"] for e in only["results"]] == ["Bot one halted: first"]
    assert api(alice).get("/api/risk/events/?bot=x").status_code == 400
    assert api(bob).get(f"/api/risk/events/?bot={a1.pk}").json()["count"] == 0
    # "all" is for auditors only: a trader still sees their own
    assert api(bob).get("/api/risk/events/?all=1").json()["count"] == 1


def test_an_auditor_lists_everyones_events(api, make_user, alice):
    from django.contrib.auth.models import Group

    auditor = make_user("audrey", staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    bot_halt(bot=create_bot(alice), actor=alice, reason="x")
    assert api(auditor).get("/api/risk/events/?all=1").json()["count"] == RiskEvent.objects.count() == 1


def test_halt_and_resume_api_own_bot_only(api, alice, bob):
    bot = create_bot(alice)
    assert api(bob).post(f"/api/risk/bots/{bot.pk}/halt/", {}, format="json").status_code == 404
    r = api(alice).post(f"/api/risk/bots/{bot.pk}/halt/", {"reason": "checking"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "halted" and r.json()["halt_reason"] == "checking"
    assert api(bob).post(f"/api/risk/bots/{bot.pk}/resume/").status_code == 404
    r = api(alice).post(f"/api/risk/bots/{bot.pk}/resume/")
    assert r.status_code == 200 and r.json()["status"] == "running"
    r = api(alice).post(f"/api/risk/bots/{bot.pk}/resume/")
    assert r.status_code == 409 and r.json()["error"]["code"] == "bot_not_halted"


def test_a_risk_officer_halts_and_resumes_any_bot_through_the_api(api, make_user, alice):
    from django.contrib.auth.models import Group

    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    support = make_user("sam", staff=True)
    support.groups.add(Group.objects.get(name="support"))
    bot = create_bot(alice)
    assert api(support).post(f"/api/risk/bots/{bot.pk}/halt/", {}, format="json").status_code == 404
    r = api(officer).post(f"/api/risk/bots/{bot.pk}/halt/", {"reason": "suspicious fills"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "halted"
    assert api(officer).post(f"/api/risk/bots/{bot.pk}/resume/").json()["status"] == "running"
