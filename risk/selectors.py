"""Reads for risk: switches, policies, events. Ownership starts here: a user sees only their own."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from risk.checks import BREACH_CODES
from risk.models import GLOBAL_KEY, KillSwitch, RiskEvent, RiskPolicy, user_key

ENGAGED_CACHE_KEY = "risk:engaged-switches"  # the set of engaged switch keys, for the page banner


def kill_switch_state(*, key: str) -> KillSwitch | None:
    return KillSwitch.objects.select_related("engaged_by", "user").filter(key=key).first()


def kill_switches_for(*, user: User) -> dict[str, KillSwitch | None]:
    """The global switch and the user's own, keyed "global" / "user" (None if never engaged)."""
    rows = {s.key: s for s in KillSwitch.objects.select_related("engaged_by").filter(
        key__in=[GLOBAL_KEY, user_key(user.pk)])}
    return {"global": rows.get(GLOBAL_KEY), "user": rows.get(user_key(user.pk))}


def engaged_keys() -> frozenset[str]:
    """Keys of every engaged switch; cached (services drop the cache on every change).

    Without Redis it asks the database: a banner about an engaged switch must not disappear."""
    try:
        keys = cache.get(ENGAGED_CACHE_KEY)
    except Exception:
        return frozenset(KillSwitch.objects.filter(engaged=True).values_list("key", flat=True))
    if keys is None:
        keys = list(KillSwitch.objects.filter(engaged=True).values_list("key", flat=True))
        with contextlib.suppress(Exception):  # the answer above is right; caching is an optimisation
            cache.set(ENGAGED_CACHE_KEY, keys, timeout=30)
    return frozenset(keys)


def kill_switch_active(*, user: User | None) -> bool:
    """Cheap check for pages and the tick pre-filter; order_gate is the authoritative one."""
    keys = engaged_keys()
    return GLOBAL_KEY in keys or (user is not None and user_key(user.pk) in keys)


def policies_for(*, user: User, bot=None) -> QuerySet[RiskPolicy]:
    """The platform row, the user's row and (if given) the bot's row."""
    cond = Q(scope=RiskPolicy.PLATFORM) | Q(scope=RiskPolicy.USER, user=user)
    if bot is not None:
        cond |= Q(scope=RiskPolicy.BOT, bot=bot)
    return RiskPolicy.objects.filter(cond)


def risk_events_for(*, user: User) -> QuerySet[RiskEvent]:
    return RiskEvent.objects.filter(user=user).select_related("bot")


def risk_events_all() -> QuerySet[RiskEvent]:
    return RiskEvent.objects.select_related("bot", "user")


def cooldowns_until(*, minutes_by_bot: dict[int, int | None]) -> dict[int, int]:
    """End of each bot's risk cool-down (unix ms) after its latest breach, for bots with a cool-down.

    One query for all of them: only breaches recent enough to still cool a bot down are read (through the
    created_at index), never a bot's whole history. Bots without a breach in that window are left out."""
    wanted = {bot_id: m for bot_id, m in minutes_by_bot.items() if m}
    if not wanted:
        return {}
    since = timezone.now() - timedelta(minutes=max(wanted.values()))
    out: dict[int, int] = {}
    for bot_id, at in RiskEvent.objects.filter(created_at__gte=since, code__in=BREACH_CODES,
                                               bot_id__isnull=False).values_list("bot_id", "created_at"):
        if bot_id in wanted:
            out[bot_id] = max(out.get(bot_id, 0), int(at.timestamp() * 1000) + wanted[bot_id] * 60_000)
    return out


def breach_since(*, bot_id: int, since) -> bool:
    """Whether a circuit breaker tripped on this bot since `since` (promotion eligibility asks this)."""
    return RiskEvent.objects.filter(bot_id=bot_id, code__in=BREACH_CODES, created_at__gte=since).exists()


def feature_flags() -> dict:
    return {"trading": settings.ENABLE_TRADING, "live_trading": settings.ENABLE_LIVE_TRADING,
            "schedulers": settings.ENABLE_SCHEDULERS}
