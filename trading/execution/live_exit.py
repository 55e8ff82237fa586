"""Automatic demotion: a live bot that a halt, a circuit breaker or an emergency stop stops goes back to
paper in the same transaction. Its approved promotion ends as `demoted` with the reason, the step is
audited and the owner is told; its open live orders are cancelled on the exchange after the commit by the
caller (safety), with the key it traded with. Going live again needs a new promotion.

(The owner's and staff's demotion, with its report, is trading.promotion.demotion; this is the platform's,
called from safety, which must not import the promotion workflow above it.)
"""

from __future__ import annotations

from django.utils import timezone

from accounts.audit import audit_record
from risk.services import risk_alert
from trading.models import Bot, PromotionRequest

LIVE = Bot.Mode.LIVE.value


def live_bots_to_paper(*, bot_ids: list[int], reason: str, actor=None, request=None) -> list[int]:
    """Inside the caller's transaction (bot rows locked): every live bot among `bot_ids` goes back to paper.
    Returns the ids demoted."""
    live = list(Bot.objects.filter(pk__in=bot_ids, mode=LIVE).order_by("pk"))
    if not live:
        return []
    now = timezone.now()
    ids = [b.pk for b in live]
    Bot.objects.filter(pk__in=ids).update(mode=Bot.Mode.PAPER, updated_at=now)
    PromotionRequest.objects.filter(bot_id__in=ids, status=PromotionRequest.Status.APPROVED).update(
        status=PromotionRequest.Status.DEMOTED, ended_at=now, ended_reason=f"automatic: {reason}"[:200],
        updated_at=now)
    for bot in live:
        audit_record(action="promotion.demote", actor=actor, target=f"bot:{bot.pk}", request=request,
                     details={"reason": reason, "automatic": True})
        risk_alert(user=bot.owner, bot=bot, event="promotion", severity="critical",
                   title=f"“{bot.name}” is back on paper",
                   text=f"{reason}. The bot was halted and is back on paper; its open orders on the exchange are "
                        "being cancelled. Going live again needs a new promotion.",
                   url_path=f"/bots/{bot.pk}/")
    return ids
