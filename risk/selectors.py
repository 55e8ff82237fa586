"""Reads for risk: switches, policies, events. Ownership starts here: a user sees only their own."""

from __future__ import annotations

import contextlib

from django.core.cache import cache
from django.db.models import Q, QuerySet

from accounts.models import User
from risk.models import GLOBAL_KEY, KillSwitch, RiskEvent, RiskPolicy, user_key
from trading.models import Bot

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


def bots_for_risk(*, user: User) -> QuerySet[Bot]:
    """Bots a person may halt/resume: their own; every bot for a risk officer (perm risk.halt_any_bot)."""
    bots = Bot.objects.filter(archived_at__isnull=True)
    return bots if user.has_perm("risk.halt_any_bot") else bots.filter(owner=user)
