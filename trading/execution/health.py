"""Live trading's health: bots paused because their exchange did not answer, and what /api/health/ shows.

The tick and reconciliation pause a running live bot whose exchange does not answer (the reason goes into
`Bot.last_tick_note`, the bot's state remembers that the exchange paused it) and reconciliation resumes it
once the exchange answers again and no order of the bot is of unknown fate. The state per exchange goes to
the cache under HEALTH_KEY, which /api/health/ (ops/health.py) reads.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

from trading.execution.routing import LIVE
from trading.execution.states import UNKNOWN
from trading.models import Bot, Order

HEALTH_KEY = "health:live_trading"
HEALTH_TTL_SECONDS = 300
PAUSED_BY_EXCHANGE = "exchange"


def live_health_report(*, exchange: str, ok: bool, error: str = "", bots: int = 0) -> None:
    current = cache.get(HEALTH_KEY) or {}
    if ok and exchange not in current:
        return
    current[exchange] = {"ok": ok, "error": error[:200], "bots_paused": bots, "at": int(time.time())}
    cache.set(HEALTH_KEY, current, timeout=HEALTH_TTL_SECONDS)


def bots_pause_for_exchange(*, bot_ids: list[int], why: str) -> list[int]:
    """Pause the running live bots among `bot_ids`; returns the ids paused now."""
    note = f"paused: {why}"[:200]
    paused = []
    with transaction.atomic():
        for bot in Bot.objects.select_for_update(no_key=True).filter(pk__in=bot_ids, status=Bot.Status.RUNNING,
                                                                     mode=LIVE).order_by("pk"):
            state = dict(bot.state or {})
            state["live"] = {**state.get("live", {}), "paused_by": PAUSED_BY_EXCHANGE}
            bot.status, bot.last_tick_note, bot.state = Bot.Status.PAUSED, note, state
            bot.save(update_fields=["status", "last_tick_note", "state", "updated_at"])
            paused.append(bot.pk)
    return paused


def bots_resume_after_exchange(*, bot_ids: list[int]) -> list[int]:
    """Resume the bots the exchange paused, once none of their orders is of unknown fate."""
    waiting = set(Order.objects.filter(bot_id__in=bot_ids, status=UNKNOWN).values_list("bot_id", flat=True))
    resumed = []
    with transaction.atomic():
        for bot in Bot.objects.select_for_update(no_key=True).filter(pk__in=bot_ids, status=Bot.Status.PAUSED,
                                                                     mode=LIVE).order_by("pk"):
            live = (bot.state or {}).get("live", {})
            if live.get("paused_by") != PAUSED_BY_EXCHANGE or bot.pk in waiting:
                continue
            bot.state = {**bot.state, "live": {k: v for k, v in live.items() if k != "paused_by"}}
            bot.status, bot.last_tick_note = Bot.Status.RUNNING, "resumed: the exchange answers again"
            bot.save(update_fields=["status", "last_tick_note", "state", "updated_at"])
            resumed.append(bot.pk)
    return resumed
