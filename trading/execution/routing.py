"""Where a bot's orders go: the ONLY place that reads a bot's mode, ENABLE_LIVE_TRADING and (with the
promotion workflow) the promotion state to decide whether an order may reach a real exchange.

`live_allowed(bot)` is the server-side live gate: every path that could place a live order asks it, at
the moment of the order, and nothing else decides. `venue_for(bot, ...)` hands out the venue for a bot:
the paper venue for a paper bot; for a live bot the ccxt venue on the promotion's key, only when
`live_allowed` says yes, otherwise `LiveNotAllowed` with the reason. `venue_for_cancel(bot)` is the one
exception: a venue that can only look up and cancel the bot's orders on the exchange (a stop, a halt, a
demotion and reconciliation must reach orders already there, even after the gate has closed).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from config.api import DomainError
from trading.engine.types import FillConfig, Market, MarketRules, RestingOrder, Wallet
from trading.execution.ccxt_venue import CcxtVenue
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
    promotion = _approved(bot)
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
    if not gate.allowed:
        raise LiveNotAllowed(f"Bot {bot.name} cannot trade live: {gate.reason}.")
    promotion = _approved(bot)
    prices = {}
    if market is not None:
        reference = (market.quote.last or market.quote.ask) if market.quote is not None else market.next_open
        if reference:
            prices[bot.symbol] = reference
    return CcxtVenue(key=promotion.key, quote_free=min(wallet.free_quote, promotion.allocation),
                     base_free=wallet.free_base, prices=prices)


def _approved(bot: Bot) -> PromotionRequest | None:
    return (PromotionRequest.objects.filter(bot_id=bot.pk, status=PromotionRequest.Status.APPROVED)
            .select_related("key").first())


def live_key_for(bot: Bot):
    """The exchange key a live bot's orders went out with: the approved promotion's, else the latest ended
    one's (a demoted or halted bot's orders may still be on the exchange)."""
    promotion = _approved(bot) or (PromotionRequest.objects.filter(bot_id=bot.pk, activated_at__isnull=False)
                                   .select_related("key").order_by("-activated_at").first())
    return promotion.key if promotion is not None else None


def venue_for_cancel(bot: Bot) -> CcxtVenue | None:
    """A venue that only looks up and cancels this bot's exchange orders (it refuses to submit), or None when
    the bot never traded live with a key that still exists."""
    key = live_key_for(bot)
    return CcxtVenue(key=key, allow_submit=False) if key is not None else None
