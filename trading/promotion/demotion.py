"""Back to paper: by the owner at any time, by staff (revoke), or by the platform (an exchange that refuses
the key). Open live orders are cancelled on the exchange first (outside any transaction); the position is
kept and reported; the step is audited and notified like every other step of the workflow."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from trading.events import bot_event_on_commit
from trading.execution.live_orders import live_orders_cancel
from trading.models import Bot
from trading.promotion.models import PromotionRequest
from trading.promotion.services import PromotionConflict, _lock_bot, _notify
from trading.selectors import bot_position


@dataclass
class LiveOrdersCancelReport:
    cancelled: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"order": client id, "reason": text}


def live_orders_cancel_for_demotion(*, bot: Bot) -> LiveOrdersCancelReport:
    """Cancel the bot's open live orders on the exchange before it goes back to paper (outside any
    transaction), and say which could not be cancelled and why."""
    done = live_orders_cancel(bot=bot, reason="demoted to paper")
    return LiveOrdersCancelReport(cancelled=[c["order"] for c in done.cancelled],
                                  failed=[{"order": f["order"], "reason": f["reason"]} for f in done.failed])


@dataclass
class DemoteResult:
    bot: Bot
    promotion: PromotionRequest | None
    was_live: bool
    orders: LiveOrdersCancelReport


def promotion_demote(*, bot: Bot, actor, reason: str = "demoted by the owner", request=None) -> DemoteResult:
    """Back to paper: by the owner at any time (a pending request is cancelled), or by the platform.

    The position is kept; open live orders go through `live_orders_cancel_for_demotion` first."""
    now = timezone.now()
    report = live_orders_cancel_for_demotion(bot=bot) if bot.mode == Bot.Mode.LIVE else LiveOrdersCancelReport()
    with transaction.atomic():
        locked_bot = _lock_bot(bot.pk)
        promotion = (PromotionRequest.objects.select_for_update(of=("self",))
                     .filter(bot=locked_bot, status__in=PromotionRequest.OPEN_STATUSES).first())
        was_live = locked_bot.mode == Bot.Mode.LIVE
        if promotion is None and not was_live:
            raise PromotionConflict("This bot is on paper and has no promotion request to cancel.")
        if was_live:
            locked_bot.mode = Bot.Mode.PAPER
            locked_bot.save(update_fields=["mode", "updated_at"])
        if promotion is not None:
            live = promotion.status == PromotionRequest.Status.APPROVED
            promotion.status = PromotionRequest.Status.DEMOTED if live else PromotionRequest.Status.CANCELLED
            promotion.ended_at, promotion.ended_reason = now, (reason or "")[:200]
            promotion.save(update_fields=["status", "ended_at", "ended_reason", "updated_at"])
        position = bot_position(bot=locked_bot)
        audit_record(action="promotion.demote" if was_live else "promotion.cancel", actor=actor,
                     target=f"bot:{locked_bot.pk}", request=request,
                     details={"promotion": promotion.pk if promotion else None, "reason": reason,
                              "position_base": str(position["base"]), "cancelled": report.cancelled,
                              "not_cancelled": report.failed})
        if promotion is not None:
            base = locked_bot.symbol.partition("/")[0]
            text = (f"Back to paper ({reason}). The position is kept: {position['base'].normalize():f} {base}."
                    if was_live else f"The promotion request was cancelled ({reason}); the bot stays on paper.")
            if report.failed:
                text += f" {len(report.failed)} live order(s) could not be cancelled: check the exchange."
            _notify(promotion=promotion, bot=locked_bot,
                    title=f"“{locked_bot.name}” is back on paper" if was_live
                    else f"Promotion of “{locked_bot.name}” cancelled",
                    text=text, severity="warning" if was_live else "info")
        bot_event_on_commit(bot=locked_bot)
    bot.mode = locked_bot.mode
    return DemoteResult(bot=bot, promotion=promotion, was_live=was_live, orders=report)
