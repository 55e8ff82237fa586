"""The promotion API: /api/bots/{id}/promotion/ (+ confirm/), /api/bots/{id}/demote/, staff /api/promotions/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.models import PromotionRequest

pytestmark = pytest.mark.django_db


def url(bot, tail=""):
    return f"/api/bots/{bot.pk}/{tail}"


def live(bot) -> bool:
    return Bot.objects.get(pk=bot.pk).mode == "live"


def test_get_lists_every_criterion_with_required_actual_and_passed(api, alice, eligible_bot):
    r = api(alice).get(url(eligible_bot, "promotion/"))
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["eligible"] is True and body["mode"] == "paper" and body["promotion"] is None
    assert body["confirm_with"] == "phrase" and body["phrase"] == "I UNDERSTAND"
    assert {c["id"]: c["passed"] for c in body["criteria"]} == dict.fromkeys(
        ["paper_days", "closed_trades", "win_rate", "profit", "no_breaker_halt", "exchange_key", "live_enabled"], True)
    assert body["policy"] == {"min_paper_days": 7, "min_closed_trades": 25, "min_win_rate_pct": "52",
                              "min_profit_pct": "3", "require_staff_approval": True, "request_ttl_hours": 24}


def test_a_foreign_bot_is_404_on_every_promotion_endpoint(api, bob, eligible_bot):
    client = api(bob)
    assert client.get(url(eligible_bot, "promotion/")).status_code == 404
    for tail, body in (("promotion/", {"allocation": "500"}), ("promotion/confirm/", {"phrase": "I UNDERSTAND"}),
                       ("demote/", {})):
        assert client.post(url(eligible_bot, tail), body, format="json").status_code == 404
    assert not PromotionRequest.objects.exists()


def test_request_answers_with_the_review(api, alice, eligible_bot):
    r = api(alice).post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "pending_confirmation" and body["allocation"] == "500"
    assert body["key"]["label"] == "main" and set(body["key"]) == {"id", "label", "exchange"}
    assert body["stats"]["closed_trades"] == 30 and body["stats"]["profit_pct"] == "5"
    assert body["limits"]["daily_loss_pct"] == "5" and body["attempts_left"] == 5
    assert "emulatorSecret" not in r.content.decode() and "emulatorApiKey" not in r.content.decode()


def test_live_trading_off_is_403_live_disabled(api, alice, eligible_bot, settings):
    settings.ENABLE_LIVE_TRADING = False
    r = api(alice).post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "live_disabled"


def test_not_eligible_is_409_with_every_failing_criterion(api, alice, make_eligible_bot, live_on):
    bot = make_eligible_bot(alice, key=False, trades=5, wins=1)
    r = api(alice).post(url(bot, "promotion/"), {"allocation": "500"}, format="json")
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "not_eligible"
    assert sorted(error["fields"]) == ["closed_trades", "exchange_key", "profit", "win_rate"] or \
        sorted(error["fields"]) == ["closed_trades", "exchange_key", "win_rate"]
    assert "Closed trades (required ≥ 25, actual 5)" in error["message"]


@pytest.mark.parametrize("body, field", [({}, "allocation"), ({"allocation": "0"}, "allocation"),
                                         ({"allocation": "-5"}, "allocation"), ({"allocation": "NaN"}, "allocation"),
                                         ({"allocation": "abc"}, "allocation")])
def test_bad_allocation_is_400_with_a_field_message(api, alice, eligible_bot, body, field):
    r = api(alice).post(url(eligible_bot, "promotion/"), body, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"][field]
    assert not PromotionRequest.objects.exists()


def test_allocation_above_the_exchange_balance_is_400(api, alice, eligible_bot, use_binance_emulator):
    r = api(alice).post(url(eligible_bot, "promotion/"), {"allocation": "10000.01"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "allocation_exceeds_balance"
    assert r.json()["error"]["fields"]["allocation"] == ["At most 10000 USDT."]


def test_confirm_wrong_phrase_is_400_with_attempts_left_then_409_on_a_second_confirm(api, alice, eligible_bot):
    client = api(alice)
    client.post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    r = client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "I understand"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "confirmation_wrong"
    assert r.json()["error"]["message"] == "Wrong phrase. 4 attempts left."
    r = client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "pending_approval" and not live(eligible_bot)
    r = client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 409


@pytest.mark.parametrize("body", [{}, {"phrase": ""}, {"totp": "12ab56"}, {"totp": "1234567"}, {"phrase": 5},
                                  {"phrase": "x" * 101}])
def test_confirm_bad_input_is_400_and_costs_no_attempt(api, alice, eligible_bot, body):
    client = api(alice)
    client.post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    r = client.post(url(eligible_bot, "promotion/confirm/"), body, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"], r.json()
    assert PromotionRequest.objects.get().attempts == 0


def test_five_wrong_confirms_cancel_the_request(api, alice, eligible_bot):
    client = api(alice)
    client.post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    answers = [client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "nope"}, format="json")
               for _ in range(5)]
    assert [a.status_code for a in answers] == [400] * 5
    assert answers[-1].json()["error"]["message"] == "Wrong phrase. No attempts left: the request is cancelled."
    assert PromotionRequest.objects.get().status == "cancelled"
    r = client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 409 and not live(eligible_bot)


def test_an_expired_request_is_409_promotion_expired(api, alice, eligible_bot):
    client = api(alice)
    client.post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    PromotionRequest.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    r = client.post(url(eligible_bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "promotion_expired"


def test_totp_user_confirms_with_a_code_and_a_replayed_code_is_refused(api, bob, make_eligible_bot, live_on,
                                                                       totp_for):
    totp = totp_for(bob)
    bot = make_eligible_bot(bob)
    client = api(bob)
    assert client.get(url(bot, "promotion/")).json()["confirm_with"] == "totp"
    client.post(url(bot, "promotion/"), {"allocation": "500"}, format="json")
    r = client.post(url(bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 400 and "totp" in r.json()["error"]["fields"]
    code = totp.now()
    r = client.post(url(bot, "promotion/confirm/"), {"totp": code}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "pending_approval"
    assert client.post(url(bot, "demote/"), format="json").json()["promotion"]["status"] == "cancelled"
    client.post(url(bot, "promotion/"), {"allocation": "500"}, format="json")
    r = client.post(url(bot, "promotion/confirm/"), {"totp": code}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"] == "Wrong code. 4 attempts left."


def _confirmed(api, user, bot) -> int:
    client = api(user)
    client.post(url(bot, "promotion/"), {"allocation": "500"}, format="json")
    r = client.post(url(bot, "promotion/confirm/"), {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 200, r.json()
    return r.json()["id"]


def test_staff_list_approve_and_the_bot_goes_live(api, alice, eligible_bot, approver):
    pk = _confirmed(api, alice, eligible_bot)
    r = api(approver).get("/api/promotions/", {"status": "pending_approval"})
    assert r.status_code == 200 and [p["id"] for p in r.json()] == [pk]
    assert r.json()[0]["owner"] == "alice" and r.json()[0]["bot_name"] == "trend"
    assert [p["id"] for p in api(approver).get("/api/promotions/", {"status": "pending"}).json()] == [pk]
    assert api(approver).get("/api/promotions/", {"status": "approved"}).json() == []
    r = api(approver).post(f"/api/promotions/{pk}/approve/", {"note": "ok"}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "approved" and r.json()["decided_by"] == "dave" and live(eligible_bot)
    state = api(alice).get(url(eligible_bot, "promotion/")).json()
    assert state["live"] is True and state["promotion"]["status"] == "approved"
    assert api(approver).post(f"/api/promotions/{pk}/approve/", {}, format="json").status_code == 409


def test_reject_keeps_paper(api, alice, eligible_bot, approver):
    pk = _confirmed(api, alice, eligible_bot)
    r = api(approver).post(f"/api/promotions/{pk}/reject/", {"note": "not yet"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["note"] == "not yet"
    assert not live(eligible_bot)


def test_only_staff_with_the_permission_and_never_for_their_own_request(api, alice, bob, charlie, eligible_bot,
                                                                        approver, make_eligible_bot):
    pk = _confirmed(api, alice, eligible_bot)
    for who in (alice, bob, charlie):  # the owner, another user, staff without the permission
        assert api(who).get("/api/promotions/").status_code == 403
        for action in ("approve", "reject"):
            r = api(who).post(f"/api/promotions/{pk}/{action}/", {}, format="json")
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    own = make_eligible_bot(approver, name="dave's")
    own_pk = _confirmed(api, approver, own)
    r = api(approver).post(f"/api/promotions/{own_pk}/approve/", {}, format="json")
    assert r.status_code == 403 and "own" in r.json()["error"]["message"]
    assert not live(eligible_bot) and not live(own)
    assert api(approver).post("/api/promotions/987654/approve/", {}, format="json").status_code == 404


def test_staff_list_rejects_an_unknown_status(api, approver):
    r = api(approver).get("/api/promotions/", {"status": "live"})
    assert r.status_code == 400 and r.json()["error"]["fields"]["status"]


def test_demote_takes_the_bot_back_to_paper(api, alice, eligible_bot, approver):
    pk = _confirmed(api, alice, eligible_bot)
    api(approver).post(f"/api/promotions/{pk}/approve/", {}, format="json")
    r = api(alice).post(url(eligible_bot, "demote/"), format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["mode"] == "paper" and body["was_live"] is True and body["promotion"]["status"] == "demoted"
    assert body["cancelled"] == [] and body["not_cancelled"] == [] and body["position_base"] == "0"
    assert not live(eligible_bot)
    assert api(alice).post(url(eligible_bot, "demote/"), format="json").status_code == 409


def test_a_direct_mode_change_still_cannot_make_a_bot_live(api, alice, eligible_bot):
    client = api(alice)
    client.patch(url(eligible_bot), {"mode": "live"}, format="json")
    client.put(url(eligible_bot), {"mode": "live"}, format="json")
    r = client.post("/api/bots/", {"name": "x", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "dca",
                                   "starting_balance": "100", "mode": "live"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "live_not_available"
    assert not Bot.objects.filter(mode="live").exists()


@pytest.mark.parametrize("fault, status, code", [("server_error", 502, "exchange_unavailable"),
                                                 ("disconnect", 502, "exchange_unavailable"),
                                                 ("ban", 429, "rate_limited")])
def test_an_exchange_that_fails_the_balance_check_gets_a_clear_answer_and_no_request(
        api, alice, eligible_bot, use_binance_emulator, fault, status, code):
    use_binance_emulator.fail(fault, path="/api/v3/account")
    r = api(alice).post(url(eligible_bot, "promotion/"), {"allocation": "500"}, format="json")
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert "emulatorApiKey" not in r.content.decode() and "signature" not in r.content.decode()
    assert not PromotionRequest.objects.exists()


def test_requests_that_reach_the_exchange_are_capped_per_hour(api, alice, eligible_bot, use_binance_emulator,
                                                              settings):
    settings.PROMOTION_BALANCE_CHECKS_PER_HOUR = 3
    client = api(alice)
    before = use_binance_emulator.count("/api/v3/account")
    codes = [client.post(url(eligible_bot, "promotion/"), {"allocation": "99999"}, format="json").status_code
             for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    assert use_binance_emulator.count("/api/v3/account") == before + 3


def test_a_bot_failing_every_criterion_gets_409_naming_each_with_required_and_actual(api, alice, make_eligible_bot,
                                                                                      live_on):
    from risk.services import risk_event_record

    bot = make_eligible_bot(alice, key=False, trades=5, wins=1, days=3, profit_pct="-2")
    risk_event_record(code="daily_loss", message="daily loss 6 %", bot=bot)  # a breaker halt this week
    r = api(alice).post(url(bot, "promotion/"), {"allocation": "500"}, format="json")
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "not_eligible"
    assert sorted(error["fields"]) == ["closed_trades", "exchange_key", "no_breaker_halt", "paper_days", "profit",
                                       "win_rate"]
    assert error["fields"]["closed_trades"] == ["Closed trades: required ≥ 25, actual 5."]
    for text in ("Days on paper", "Closed trades", "Win rate", "Profit", "tested key", "required"):
        assert text.lower() in error["message"].lower(), (text, error["message"])
    assert not PromotionRequest.objects.exists()
    # the same criteria, with required / actual / passed, on the eligibility endpoint
    failing = {c["id"]: c for c in api(alice).get(url(bot, "promotion/")).json()["criteria"] if not c["passed"]}
    assert sorted(failing) == sorted(error["fields"])
    assert failing["paper_days"]["required"] == "≥ 7" and failing["paper_days"]["actual"].startswith("3")
