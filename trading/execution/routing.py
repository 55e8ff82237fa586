"""Where a bot's orders go: the ONLY place that reads a bot's mode, ENABLE_LIVE_TRADING and (with the
promotion workflow) the promotion state to decide whether an order may reach a real exchange.

`live_allowed(bot)` is the server-side live gate: every path that could place a live order asks it, at
the moment of the order, and nothing else decides. `venue_for(bot, ...)` hands out the venue for a bot:
the paper venue for a paper bot; for a live bot only when `live_allowed` says yes (the ccxt venue
arrives with live trading); otherwise `LiveNotAllowed` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from config.api import DomainError
from trading.engine.types import FillConfig, Market, MarketRules, RestingOrder, Wallet
from trading.execution.paper import PaperVenue
from trading.execution.venue import Venue
from trading.models import Bot, PromotionRequest

PAPER: str = Bot.Mode.PAPER.value  # plain strings: they go into SQL parameters
LIVE: str = Bot.Mode.LIVE.value


class LiveNotAllowed(DomainError):
    code = "live_not_allowed"
    status = 403


@dataclass(frozen=True)
class LiveGate:
    allowed: bool
    reason: str  # why not (empty when allowed)


def is_paper(bot: Bot) -> bool:
    return bot.mode == PAPER


def live_trading_enabled() -> bool:
    """The operator's switch (ENABLE_LIVE_TRADING): off, no bot goes or stays live."""
    return bool(settings.ENABLE_LIVE_TRADING)


def live_allowed(bot: Bot) -> LiveGate:
    """Whether this bot may place an order on a real exchange right now: the operator's switch is on, the
    bot is live, not halted, and trades under an approved promotion whose key is still active."""
    if bot.mode != LIVE:
        return LiveGate(False, "the bot trades on paper")
    if not live_trading_enabled():
        return LiveGate(False, "live trading is switched off on this platform (ENABLE_LIVE_TRADING=false)")
    if bot.status == Bot.Status.HALTED:
        return LiveGate(False, "the bot is halted")
    promotion = (PromotionRequest.objects.filter(bot_id=bot.pk, status=PromotionRequest.Status.APPROVED)
                 .select_related("key").first())
    if promotion is None:
        return LiveGate(False, "live trading needs an approved promotion")
    key = promotion.key
    if key is None or not key.is_active:
        return LiveGate(False, "the promotion's exchange key is no longer active")
    return LiveGate(True, "")


def venue_for(bot: Bot, *, wallet: Wallet, rules: MarketRules, cfg: FillConfig,
              open_orders: list[RestingOrder] | tuple = (), market: Market | None = None) -> Venue:
    """The venue this bot's orders go to (see the module docstring). Raises LiveNotAllowed for a live bot
    the gate refuses."""
    if is_paper(bot):
        return PaperVenue(symbol=bot.symbol, wallet=wallet, rules=rules, cfg=cfg, seed=bot.seed,
                          open_orders=list(open_orders), market=market)
    gate = live_allowed(bot)
    raise LiveNotAllowed(f"Bot {bot.name} cannot trade live: {gate.reason}.")
