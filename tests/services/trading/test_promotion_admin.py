"""Promotion in Django admin: staff approve / reject / revoke with a note (actions call the services), the
platform policy row is edited there; nobody else and nothing else makes a bot live."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import AuditEvent
from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.models import PromotionPolicy, PromotionRequest
from trading.promotion.selectors import promotion_eligibility, promotion_policy
from trading.promotion.services import promotion_confirm, promotion_request

pytestmark = pytest.mark.django_db
LIST = "/admin/trading/promotionrequest/"


def staff(make_user, name, role=None):
    user = make_user(name, staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture
def confirmed(alice, eligible_bot):
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    return promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")


def live(bot) -> bool:
    return Bot.objects.get(pk=bot.pk).mode == "live"


def test_a_risk_officer_sees_the_pending_request_and_approves_it_with_a_note(make_user, eligible_bot, confirmed,
                                                                             promotion_alerts, alice):
    alerts = promotion_alerts(alice)
    officer, client = staff(make_user, "olivia", "risk officer")
    page = client.get(LIST, {"state": "pending"}).content.decode()
    assert "trend" in page and "pending_approval" in page and "Approve the selected requests" in page
    r = client.post(LIST, {"action": "approve_requests", "_selected_action": [confirmed.pk],
                           "note": "checked the record"}, follow=True)
    assert "Approved 1 request(s)." in r.content.decode()
    promotion = PromotionRequest.objects.get()
    assert promotion.status == "approved" and promotion.decided_by == officer and promotion.note == "checked the record"
    assert live(eligible_bot)
    assert AuditEvent.objects.filter(action="promotion.approve", actor=officer).exists()
    assert alerts.last().title == "“trend” is LIVE"

    r = client.post(LIST, {"action": "revoke_live", "_selected_action": [confirmed.pk], "note": "drift"}, follow=True)
    assert "Revoked 1 request(s)." in r.content.decode() and not live(eligible_bot)
    assert PromotionRequest.objects.get().ended_reason == "revoked by staff: drift"


def test_reject_from_admin_keeps_paper(make_user, eligible_bot, confirmed):
    _, client = staff(make_user, "olivia", "risk officer")
    client.post(LIST, {"action": "reject_requests", "_selected_action": [confirmed.pk], "note": "too soon"})
    assert PromotionRequest.objects.get().status == "rejected" and not live(eligible_bot)


def test_support_staff_and_non_staff_cannot_approve(make_user, alice, eligible_bot, confirmed):
    _, support = staff(make_user, "sam", "support")
    page = support.get(LIST).content.decode()
    assert "trend" in page and "Approve the selected requests" not in page
    support.post(LIST, {"action": "approve_requests", "_selected_action": [confirmed.pk]})
    owner = Client()
    owner.force_login(alice)
    assert owner.get(LIST).status_code == 302  # to the admin login
    owner.post(LIST, {"action": "approve_requests", "_selected_action": [confirmed.pk]})
    assert PromotionRequest.objects.get().status == "pending_approval" and not live(eligible_bot)


def test_with_live_trading_off_the_admin_action_is_refused(make_user, eligible_bot, confirmed, settings):
    _, client = staff(make_user, "olivia", "risk officer")
    settings.ENABLE_LIVE_TRADING = False
    r = client.post(LIST, {"action": "approve_requests", "_selected_action": [confirmed.pk]}, follow=True)
    assert "ENABLE_LIVE_TRADING=false" in r.content.decode() and not live(eligible_bot)
    assert client.get(f"/admin/trading/bot/{eligible_bot.pk}/change/").status_code == 200
    client.post(f"/admin/trading/bot/{eligible_bot.pk}/change/", {"mode": "live"})  # fields are read-only
    assert not live(eligible_bot)


def test_a_risk_officer_edits_the_policy_and_eligibility_follows(make_user, alice, eligible_bot):
    officer, client = staff(make_user, "olivia", "risk officer")
    policy = promotion_policy()
    r = client.post(f"/admin/trading/promotionpolicy/{policy.pk}/change/", {
        "min_paper_days": 7, "min_closed_trades": 40, "min_win_rate_pct": "52", "min_profit_pct": "3",
        "require_staff_approval": "on", "request_ttl_hours": 24})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert PromotionPolicy.objects.get().min_closed_trades == 40
    assert AuditEvent.objects.get(action="promotion.policy_update").actor == officer
    assert [c.id for c in promotion_eligibility(bot=eligible_bot)[0].failing] == ["closed_trades"]
    r = client.post(f"/admin/trading/promotionpolicy/{policy.pk}/change/", {
        "min_paper_days": 7, "min_closed_trades": 40, "min_win_rate_pct": "5000", "min_profit_pct": "3",
        "request_ttl_hours": 0})
    assert r.status_code == 200 and "Between 1 and 720 hours." in r.content.decode()
