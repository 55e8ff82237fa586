"""A bot's health: what it is really doing, from what the tick already recorded (no query of its own).

The tick writes the reason a running bot cannot trade into `Bot.last_tick_note` (trading.services.
tick_health builds it after each evaluation; the tick's feed checks write stale-price notes); this
module turns a bot row into one of:

    running      nothing stops it (a strategy that simply has no signal is running)
    warming_up   "warming up: needs N more candles" (fewer closed candles than the strategy's lookback)
    blocked      "blocked: <reason>" (the risk gate refused the last order the strategy wanted)
    stale_prices "stale prices" (the price feed is stale or missing, or no tick has run for a while)
    idle         "idle: balance below minimum order" (flat, and the wallet cannot pay the market minimum)
    stopped / paused / halted   the bot's own status (halted with its reason)

A freshly started bot is `running` until its first tick says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

STATES = ("running", "warming_up", "blocked", "stale_prices", "idle", "stopped", "paused", "halted")

# how the tick writes its notes (prefixes of Bot.last_tick_note)
WARMING_UP = "warming up: "
BLOCKED = "blocked: "
IDLE_BALANCE = "idle: balance below minimum order"
STALE_NOTES = ("stale price", "no price yet", "incomplete ticker", "no closed candle yet")


@dataclass(frozen=True)
class Health:
    state: str
    label: str  # what the badge says
    detail: str = ""  # one sentence more (the badge's title)

    @property
    def trading(self) -> bool:
        return self.state == "running"

    def to_json(self) -> dict:
        return {"state": self.state, "label": self.label, "detail": self.detail}


def health_from(*, status: str, halt_reason: str = "", note: str = "", last_tick_at: datetime | None = None,
                started_at: datetime | None = None, now: datetime) -> Health:
    """The health of one bot from its row's fields (status, halt_reason, last_tick_note, tick times)."""
    if status != "running":
        if status == "halted":
            return Health("halted", "halted", halt_reason or "halted by risk: resume it to trade again")
        return Health(status, status, "")
    note = (note or "").strip()
    if note.startswith(WARMING_UP):
        return Health("warming_up", note, "The strategy needs more closed candles before it can decide.")
    if note.startswith(BLOCKED):
        return Health("blocked", note, "The risk gate refused the last order this bot wanted to place.")
    if note.startswith(IDLE_BALANCE):
        rest = note[len(IDLE_BALANCE):].strip()
        return Health("idle", IDLE_BALANCE, "The free balance is below the market's minimum order value"
                      + (f" {rest}" if rest else "") + ": it cannot place an order.")
    if note.startswith(STALE_NOTES):
        return Health("stale_prices", "stale prices", note)
    if note:  # any other reason the last tick could not trade (end of a recording, an error...)
        return Health("blocked", f"{BLOCKED}{note}"[:200], "The last tick could not evaluate this bot.")
    limit = timedelta(seconds=settings.BOT_TICK_STALE_SECONDS)
    seen = last_tick_at or started_at
    if seen is not None and now - seen > limit:
        return Health("stale_prices", "stale prices",
                      f"No tick has run this bot for {int((now - seen).total_seconds() // 60)} min: "
                      "the price poller or the workers may be down.")
    return Health("running", "running", "" if last_tick_at else "Waiting for the first tick.")


def bot_health(bot, *, now: datetime) -> Health:
    return health_from(status=bot.status, halt_reason=bot.halt_reason, note=bot.last_tick_note,
                       last_tick_at=bot.last_tick_at, started_at=bot.started_at, now=now)
