"""Reads for the promotion workflow: the policy, a bot's paper record and eligibility, the requests."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from keys.selectors import keys_for
from risk.checks import BREACH_CODES
from risk.models import RiskEvent
from trading.execution.routing import live_trading_enabled
from trading.models import Bot, Fill
from trading.promotion.eligibility import Eligibility, KeyInfo, PaperRecord, Rules, evaluate
from trading.promotion.models import PromotionPolicy, PromotionRequest
from trading.selectors import bot_performance

POLICY_PK = 1


def policy_defaults() -> dict:
    return {"min_paper_days": settings.PROMOTION_MIN_PAPER_DAYS,
            "min_closed_trades": settings.PROMOTION_MIN_CLOSED_TRADES,
            "min_win_rate_pct": Decimal(str(settings.PROMOTION_MIN_WIN_RATE_PCT)),
            "min_profit_pct": Decimal(str(settings.PROMOTION_MIN_PROFIT_PCT)),
            "require_staff_approval": settings.PROMOTION_REQUIRE_STAFF_APPROVAL,
            "request_ttl_hours": settings.PROMOTION_REQUEST_TTL_HOURS}


def promotion_policy() -> PromotionPolicy:
    """The platform row; created from the PROMOTION_* settings the first time anyone asks."""
    policy = PromotionPolicy.objects.filter(pk=POLICY_PK).first()
    if policy is None:
        policy, _ = PromotionPolicy.objects.get_or_create(pk=POLICY_PK, defaults=policy_defaults())
    return policy


def rules_from(policy: PromotionPolicy) -> Rules:
    return Rules(min_paper_days=policy.min_paper_days, min_closed_trades=policy.min_closed_trades,
                 min_win_rate_pct=policy.min_win_rate_pct, min_profit_pct=policy.min_profit_pct)


def promotion_key_for(bot: Bot):
    """The owner's key for the bot's exchange that live orders would use: the newest tested-ok active key,
    else (to explain what is missing) the newest one there is."""
    keys = keys_for(bot.owner).filter(exchange=bot.exchange)
    good = keys.filter(is_active=True, last_test_ok=True).order_by("-last_tested_at", "-id").first()
    return good or keys.order_by("-is_active", "-last_tested_at", "-id").first()


def paper_record(*, bot: Bot, now=None) -> tuple[PaperRecord, dict]:
    """The bot's paper record for the eligibility rules, and the performance numbers it came from."""
    now = now or timezone.now()
    perf = bot_performance(bot=bot)
    first = Fill.objects.filter(bot=bot).order_by("ts", "id").values_list("ts", flat=True).first()
    halts = RiskEvent.objects.filter(bot=bot, code__in=BREACH_CODES,
                                     created_at__gte=now - timedelta(days=Rules.breaker_lookback_days)).count()
    key = promotion_key_for(bot)
    record = PaperRecord(
        now=now, exchange=bot.exchange, paper_since=first, closed_trades=perf["closed_trades"],
        win_rate_pct=perf["win_rate"], profit_pct=perf["return_pct"], breaker_halts=halts,
        key=None if key is None else KeyInfo(label=key.label, active=key.is_active, tested_ok=key.last_test_ok),
        live_enabled=live_trading_enabled())
    return record, perf


def promotion_eligibility(*, bot: Bot, now=None) -> tuple[Eligibility, PaperRecord, dict]:
    record, perf = paper_record(bot=bot, now=now)
    return evaluate(record, rules_from(promotion_policy())), record, perf


def criteria_json(eligibility: Eligibility) -> list[dict]:
    return [asdict(c) for c in eligibility.criteria]


def promotion_current(*, bot: Bot) -> PromotionRequest | None:
    """The bot's open request (pending or approved = live), else its latest one; None if it never had one."""
    qs = PromotionRequest.objects.filter(bot=bot).select_related("key", "decided_by")
    return qs.filter(status__in=PromotionRequest.OPEN_STATUSES).first() or qs.order_by("-created_at", "-id").first()


def promotion_active(*, bot: Bot) -> PromotionRequest | None:
    """The approved request a live bot trades under (its allocation and key), or None."""
    return PromotionRequest.objects.filter(bot=bot, status=PromotionRequest.Status.APPROVED).select_related(
        "key").first()


def promotions_for_staff(*, status: str | None = None) -> QuerySet[PromotionRequest]:
    qs = PromotionRequest.objects.select_related("bot", "requested_by", "key", "decided_by")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")
