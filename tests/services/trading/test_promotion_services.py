"""The promotion workflow's services: request -> confirm -> approve/reject -> live -> demote.

Against real PostgreSQL and the Binance emulator through the real ccxt client (the balance check)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from risk.services import risk_event_record
from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot, Order
from trading.promotion.demotion import promotion_demote
from trading.promotion.models import PromotionPolicy, PromotionRequest
from trading.promotion.selectors import promotion_eligibility, promotion_policy
from trading.promotion.services import (
    AllocationTooLarge,
    ConfirmationWrong,
    LiveDisabled,
    NotEligible,
    PromotionConflict,
    PromotionExpired,
    PromotionForbidden,
    promotion_approve,
    promotion_confirm,
    promotion_reject,
    promotion_request,
)

pytestmark = pytest.mark.django_db


def test_the_policy_row_starts_from_the_settings(settings):
    settings.PROMOTION_MIN_CLOSED_TRADES = 40
    policy = promotion_policy()
    assert (policy.min_paper_days, policy.min_closed_trades, policy.min_win_rate_pct, policy.min_profit_pct,
            policy.require_staff_approval, policy.request_ttl_hours) == (7, 40, Decimal(52), Decimal(3), True, 24)
    assert PromotionPolicy.objects.count() == 1 and promotion_policy().pk == policy.pk


def test_an_eligible_paper_record_passes_every_criterion(eligible_bot):
    eligibility, record, _ = promotion_eligibility(bot=eligible_bot)
    assert eligibility.eligible, eligibility.failing
    assert record.closed_trades == 30 and record.win_rate_pct.quantize(Decimal("0.01")) == Decimal("66.67")
    assert record.profit_pct == Decimal(5)


def test_a_recent_circuit_breaker_halt_blocks_an_old_one_does_not(eligible_bot):
    from risk.models import RiskEvent

    event = risk_event_record(code="daily_loss", message="daily loss 6 %", bot=eligible_bot)
    assert [c.id for c in promotion_eligibility(bot=eligible_bot)[0].failing] == ["no_breaker_halt"]
    RiskEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert promotion_eligibility(bot=eligible_bot)[0].eligible


def test_a_request_freezes_the_stats_and_checks_the_exchange_balance(alice, eligible_bot, use_binance_emulator,
                                                                     promotion_alerts):
    alerts = promotion_alerts(alice)
    before = use_binance_emulator.count("/api/v3/account")
    promotion = promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    assert promotion.status == "pending_confirmation" and promotion.allocation == Decimal(500)
    assert promotion.key.label == "main" and promotion.quote_currency == "USDT"
    assert promotion.stats["closed_trades"] == 30 and promotion.stats["profit_pct"] == "5"
    assert all(c["passed"] for c in promotion.stats["criteria"])
    assert promotion.limits["max_trades_per_day"] == "50" and promotion.limits["daily_loss_pct"] == "5"
    assert use_binance_emulator.count("/api/v3/account") == before + 1  # the balance, signed with alice's key
    assert AuditEvent.objects.filter(action="promotion.request", actor=alice, target=f"bot:{eligible_bot.pk}").exists()
    assert [a.title for a in alerts] == ["Promotion of “trend” requested"]
    assert alerts[0].url_path == f"/bots/{eligible_bot.pk}/"
    with pytest.raises(PromotionConflict):
        promotion_request(bot=eligible_bot, actor=alice, allocation="500")


def test_an_allocation_above_the_free_balance_is_refused(alice, eligible_bot, use_binance_emulator):
    use_binance_emulator.set_balance("USDT", "400")
    with pytest.raises(AllocationTooLarge) as err:
        promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    assert err.value.fields == {"allocation": ["At most 400 USDT."]}
    assert not PromotionRequest.objects.exists()


def test_with_live_trading_off_nothing_is_requested(alice, eligible_bot, settings, use_binance_emulator):
    settings.ENABLE_LIVE_TRADING = False
    with pytest.raises(LiveDisabled):
        promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    assert not PromotionRequest.objects.exists() and use_binance_emulator.count("/api/v3/account") == 1  # key test


def test_an_ineligible_bot_gets_every_failing_criterion(alice, make_eligible_bot, live_on):
    bot = make_eligible_bot(alice, trades=10, wins=4, days=3, profit_pct="1")
    with pytest.raises(NotEligible) as err:
        promotion_request(bot=bot, actor=alice, allocation="100")
    assert err.value.status == 409
    assert sorted(err.value.fields) == ["closed_trades", "paper_days", "profit", "win_rate"]
    assert err.value.fields["closed_trades"] == ["Closed trades: required ≥ 25, actual 10."]


def test_confirm_with_the_phrase_then_staff_approval_makes_the_bot_live(alice, eligible_bot, approver,
                                                                       promotion_alerts):
    alerts = promotion_alerts(alice)
    open_order = Order.objects.create(bot=eligible_bot, client_id="paper:1", side="buy", type="limit",
                                      amount=Decimal("0.1"), price=Decimal("90"), status="open")
    promotion = promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    assert promotion.status == "pending_approval" and promotion.confirmed_with == "phrase"
    with pytest.raises(PromotionConflict):
        promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    eligible_bot.refresh_from_db()
    assert eligible_bot.mode == "paper"

    promotion = promotion_approve(promotion=promotion, actor=approver, note="record looks fine")
    eligible_bot.refresh_from_db()
    assert promotion.status == "approved" and promotion.decided_by == approver and eligible_bot.mode == "live"
    open_order.refresh_from_db()
    assert open_order.status == "cancelled"  # paper orders do not survive the switch
    actions = list(AuditEvent.objects.filter(target=f"bot:{eligible_bot.pk}", action__startswith="promotion.")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["promotion.request", "promotion.confirm", "promotion.approve", "promotion.activate"]
    assert [a.title for a in alerts] == ["Promotion of “trend” requested", "Promotion of “trend” confirmed",
                                         "“trend” is LIVE"]


def test_wrong_phrases_count_down_and_the_fifth_cancels(alice, eligible_bot):
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    for left in (4, 3, 2, 1):
        with pytest.raises(ConfirmationWrong) as err:
            promotion_confirm(bot=eligible_bot, actor=alice, phrase="i understand")
        assert err.value.attempts_left == left and err.value.fields["phrase"] == [f"Wrong phrase. {left} attempt"
                                                                                  f"{'s' if left > 1 else ''} left."]
    with pytest.raises(ConfirmationWrong) as err:
        promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND ")
    assert err.value.attempts_left == 0
    assert PromotionRequest.objects.get().status == "cancelled"
    with pytest.raises(PromotionConflict):
        promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")


def test_an_expired_request_cannot_be_confirmed(alice, eligible_bot):
    promotion = promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    PromotionRequest.objects.filter(pk=promotion.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(PromotionExpired):
        promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    assert PromotionRequest.objects.get().status == "expired"
    with pytest.raises(PromotionExpired):  # and again: still expired, not "nothing to confirm"
        promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    assert promotion_request(bot=eligible_bot, actor=alice, allocation="500").status == "pending_confirmation"


def test_with_totp_on_a_code_is_required_and_a_used_code_is_refused(bob, make_eligible_bot, live_on, totp_for):
    totp = totp_for(bob)
    bot = make_eligible_bot(bob)
    promotion_request(bot=bot, actor=bob, allocation="500")
    with pytest.raises(Exception) as err:
        promotion_confirm(bot=bot, actor=bob, phrase="I UNDERSTAND")
    assert err.value.code == "invalid" and "totp" in err.value.fields
    code = totp.now()
    assert promotion_confirm(bot=bot, actor=bob, totp=code).confirmed_with == "totp"
    promotion_demote(bot=bot, actor=bob)  # cancel the pending approval, ask again
    promotion_request(bot=bot, actor=bob, allocation="500")
    with pytest.raises(ConfirmationWrong) as err:
        promotion_confirm(bot=bot, actor=bob, totp=code)  # the same code a second time
    assert err.value.attempts_left == 4 and "totp" in err.value.fields


def test_nobody_approves_their_own_request_and_only_with_the_permission(alice, charlie, eligible_bot, approver):
    alice.is_staff = True
    alice.save()
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="approve_promotion"))
    alice = type(alice).objects.get(pk=alice.pk)
    for who in (alice, charlie):  # her own request; staff without the permission
        with pytest.raises(PromotionForbidden):
            promotion_approve(promotion=promotion, actor=who)
        with pytest.raises(PromotionForbidden):
            promotion_reject(promotion=promotion, actor=who)
    assert PromotionRequest.objects.get().status == "pending_approval"
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "paper"


def test_a_rejection_keeps_the_bot_on_paper_and_tells_the_owner(alice, eligible_bot, approver, promotion_alerts):
    alerts = promotion_alerts(alice)
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    promotion = promotion_reject(promotion=promotion, actor=approver, note="too few days on a volatile pair")
    assert promotion.status == "rejected" and Bot.objects.get(pk=eligible_bot.pk).mode == "paper"
    assert alerts.last().title == "Promotion of “trend” rejected"
    assert "too few days" in alerts.last().text
    with pytest.raises(PromotionConflict):
        promotion_approve(promotion=promotion, actor=approver)


def test_approval_with_live_trading_switched_off_meanwhile_is_refused(alice, eligible_bot, approver, settings):
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    settings.ENABLE_LIVE_TRADING = False
    with pytest.raises(LiveDisabled):
        promotion_approve(promotion=promotion, actor=approver)
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "paper"


def test_without_required_approval_the_confirmation_makes_the_bot_live(alice, eligible_bot):
    PromotionPolicy.objects.filter(pk=promotion_policy().pk).update(require_staff_approval=False)
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    assert promotion.status == "approved" and Bot.objects.get(pk=eligible_bot.pk).mode == "live"


def test_demotion_takes_a_live_bot_back_to_paper_and_keeps_the_position(alice, eligible_bot, approver,
                                                                       promotion_alerts):
    alerts = promotion_alerts(alice)
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion_approve(promotion=promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND"),
                      actor=approver)
    live = Bot.objects.get(pk=eligible_bot.pk)
    # the live wallet starts as the allocation (the paper wallet is not real money), then trades
    assert (live.base, live.quote) == (Decimal(0), Decimal("500"))
    Bot.objects.filter(pk=eligible_bot.pk).update(base=Decimal("0.25"))
    result = promotion_demote(bot=Bot.objects.get(pk=eligible_bot.pk), actor=alice)
    bot = Bot.objects.get(pk=eligible_bot.pk)
    assert result.was_live and bot.mode == "paper" and bot.base == Decimal("0.25")
    assert PromotionRequest.objects.get().status == "demoted"
    audit = AuditEvent.objects.get(action="promotion.demote")
    assert audit.actor == alice and audit.details["position_base"].startswith("0.25")
    assert alerts.last().title == "“trend” is back on paper"
    with pytest.raises(PromotionConflict):
        promotion_demote(bot=bot, actor=alice)


def test_activation_needs_a_confirmed_approved_request_and_a_working_key(alice, eligible_bot, approver):
    from trading.promotion.services import promotion_activate

    promotion = promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    with pytest.raises(PromotionConflict):  # not confirmed
        promotion_activate(promotion=promotion, actor=alice)
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    with pytest.raises(PromotionConflict):  # confirmed, but staff approval is required and missing
        promotion_activate(promotion=promotion, actor=alice)
    PromotionRequest.objects.filter(pk=promotion.pk).update(decided_by=approver)
    alice.exchange_keys.update(is_active=False)
    with pytest.raises(PromotionConflict):  # the key was disabled meanwhile
        promotion_activate(promotion=promotion, actor=approver)
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "paper"
    alice.exchange_keys.update(is_active=True)
    assert promotion_activate(promotion=promotion, actor=approver).status == "approved"
    assert Bot.objects.get(pk=eligible_bot.pk).mode == "live"


def test_the_platform_can_demote_without_an_actor(alice, eligible_bot, approver):
    """The call the kill switch, circuit breaker and exchange-auth failure paths make (no person acting)."""
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion_approve(promotion=promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND"),
                      actor=approver)
    result = promotion_demote(bot=Bot.objects.get(pk=eligible_bot.pk), actor=None, reason="kill switch engaged")
    assert result.was_live and Bot.objects.get(pk=eligible_bot.pk).mode == "paper"
    assert PromotionRequest.objects.get().ended_reason == "kill switch engaged"
    audit = AuditEvent.objects.get(action="promotion.demote")
    assert audit.actor is None and audit.details["reason"] == "kill switch engaged"
