"""Risk limits: the platform policy, and the ONE loader that combines platform, user and bot rows.

Every caller that needs effective limits (the order gate for one bot, the paper tick for thousands,
the risk monitor, the backtest's defaults, the risk panel) goes through `LimitsBook`: it reads the
policy rows once and combines them per bot (the tightest value any row sets), caching per owner when
a bot has no row of its own. Bots are passed as anything with `pk`/`id` and `owner_id`: risk never
imports the trading app.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q

from risk.checks import LIMIT_FIELDS, LONGER_IS_TIGHTER, Limits
from risk.models import RiskPolicy

# What a platform policy holds when no row exists yet (the data migration writes the same values).
PLATFORM_DEFAULTS = {
    "max_position_quote": None,
    "max_position_pct": Decimal("100"),
    "max_open_trades": 10,
    "max_trades_per_day": 50,
    "daily_loss_pct": Decimal("5"),
    "max_drawdown_pct": Decimal("25"),
    "max_orders_per_minute": 10,
    "cooldown_minutes": 60,
    "user_daily_loss_pct": Decimal("5"),
}


def platform_policy() -> RiskPolicy:
    policy = RiskPolicy.objects.filter(scope=RiskPolicy.PLATFORM).first()
    if policy is None:
        policy, _ = RiskPolicy.objects.get_or_create(scope=RiskPolicy.PLATFORM, defaults=PLATFORM_DEFAULTS)
    return policy


def _tighter(name: str, a, b):
    """The tighter of two values; None means "no limit" / "inherit"."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if name in LONGER_IS_TIGHTER else min(a, b)


def effective_limits(*, policies: list[RiskPolicy]) -> dict:
    """Combine platform, user and bot rows: each field is the tightest value any row sets."""
    out = dict.fromkeys(LIMIT_FIELDS)
    for policy in policies:
        for name in LIMIT_FIELDS:
            out[name] = _tighter(name, out[name], getattr(policy, name))
    return out


def limits_from(values: dict) -> Limits:
    return Limits(**{k: v for k, v in values.items() if k in LIMIT_FIELDS})


def _bot_id(bot) -> int:
    return bot.pk if hasattr(bot, "pk") else bot.id


class LimitsBook:
    """Effective limits for a set of bots, from one query over the policy rows.

    `LimitsBook.load(owner_ids=..., bot_ids=...)` (or `exchange=` for every bot row of an exchange);
    then `.for_bot(bot_id, owner_id)` -> Limits and `.for_user(owner_id)` -> Limits."""

    def __init__(self, rows: list[RiskPolicy]):
        self.platform = [p for p in rows if p.scope == RiskPolicy.PLATFORM] or [platform_policy()]
        self.by_user: dict[int, list[RiskPolicy]] = defaultdict(list)
        self.by_bot: dict[int, list[RiskPolicy]] = defaultdict(list)
        for p in rows:
            if p.scope == RiskPolicy.USER:
                self.by_user[p.user_id].append(p)
            elif p.scope == RiskPolicy.BOT:
                self.by_bot[p.bot_id].append(p)
        self._by_owner: dict[int, Limits] = {}

    @classmethod
    def load(cls, *, owner_ids, bot_ids=(), exchange: str | None = None) -> LimitsBook:
        cond = Q(scope=RiskPolicy.PLATFORM) | Q(scope=RiskPolicy.USER, user_id__in=list(owner_ids))
        if exchange is not None:
            cond |= Q(scope=RiskPolicy.BOT, bot__exchange=exchange)
        if bot_ids:
            cond |= Q(scope=RiskPolicy.BOT, bot_id__in=list(bot_ids))
        return cls(list(RiskPolicy.objects.filter(cond)))

    def values_for_bot(self, bot_id: int, owner_id: int) -> dict:
        return effective_limits(policies=[*self.platform, *self.by_user.get(owner_id, []),
                                          *self.by_bot.get(bot_id, [])])

    def for_bot(self, bot_id: int, owner_id: int) -> Limits:
        own = self.by_bot.get(bot_id)
        if not own and owner_id in self._by_owner:
            return self._by_owner[owner_id]
        limits = limits_from(self.values_for_bot(bot_id, owner_id))
        if not own:
            self._by_owner[owner_id] = limits
        return limits

    def for_user(self, owner_id: int) -> Limits:
        return limits_from(effective_limits(policies=[*self.platform, *self.by_user.get(owner_id, [])]))


def limits_for(*, bot) -> Limits:
    """One bot's effective limits (the gate's fallback when a caller did not load many at once)."""
    return LimitsBook.load(owner_ids=[bot.owner_id], bot_ids=[_bot_id(bot)]).for_bot(_bot_id(bot), bot.owner_id)
