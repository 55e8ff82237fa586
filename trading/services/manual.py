"""Manual control of a bot by its owner: close the position at market, cancel all open orders, resume every
halted bot after an emergency stop. Each is one service, audited, on the same paths the bot itself uses.

- Close at market: the sell goes through the risk gate (`risk.services.order_gate`, inside the
  transaction that writes the order, with the same rules as the bot's own exits: a kill switch or a
  halt refuses it; use the emergency stop's "flatten" for that case) and then through the bot's venue
  (`trading.execution.flatten.position_flatten`: open orders cancelled first, the fill recorded by
  the one order writer).
- Cancel all: `trading.execution.writer.orders_cancel_open` (reservations released).
- Resume all: `trading.execution.safety.bot_resume` for each halted bot, refused while a kill switch
  covers the user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import User
from config.api import DomainError
from risk.checks import OrderProposal, state_build
from risk.models import GLOBAL_KEY, KillSwitch, user_key
from risk.services import order_gate
from trading.events import bot_event_on_commit
from trading.execution.flatten import position_flatten
from trading.execution.safety import KillSwitchEngaged, bot_resume
from trading.execution.writer import orders_cancel_open
from trading.formatting import currency_places
from trading.models import Bot, Order
from trading.price_selectors import tickers_latest


class NothingToClose(DomainError):
    code = "nothing_to_close"
    status = 409


class CloseRefused(DomainError):
    """The risk gate refused the closing sell (its code and message say why)."""

    code = "risk_refused"
    status = 409


class CloseRejected(DomainError):
    """The venue rejected the closing sell (no fresh price, below the market minimum...)."""

    code = "order_rejected"
    status = 409


@dataclass
class CloseResult:
    bot: Bot
    order: Order


def bot_position_close(*, bot: Bot, actor: User, request=None) -> CloseResult:
    """Sell the bot's whole position at market now, through the risk gate and the bot's venue."""
    refusal = None
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).get(pk=bot.pk)
        if bot.base <= 0:
            raise NothingToClose(f"{bot.name} holds no {bot.symbol.split('/')[0]}: there is nothing to close.")
        tick = tickers_latest(exchange=bot.exchange, symbols=[bot.symbol]).get(bot.symbol)
        price = (tick.bid if tick is not None and tick.bid is not None else None) or bot.last_price or Decimal(0)
        now_ms = int(time.time() * 1000)
        open_count = Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).count()
        state = state_build((bot.state or {}).get("risk") or {}, equity=bot.quote + bot.base * price, base=bot.base,
                            price=price, now_ms=now_ms, open_orders=open_count, reduce_only=bot.reduce_only)
        decision = order_gate(bot=bot, proposal=OrderProposal(
            side="sell", amount=bot.base, price=price, reduces_position=True,
            money_places=currency_places(bot.symbol.rpartition("/")[2])), state=state)
        if not decision.allowed:
            refusal = decision  # commit the gate's risk event, then answer
            audit_record(action="bot.close_position", actor=actor, target=f"bot:{bot.pk}", request=request,
                         details={"refused": decision.code})
        else:
            order = position_flatten(bot=bot, reason=f"closed at market by {actor.username}", locked=True)
            audit_record(action="bot.close_position", actor=actor, target=f"bot:{bot.pk}", request=request,
                         details={"order": order.pk if order else None, "status": order.status if order else None,
                                  "amount": str(order.filled) if order else "0"})
            bot_event_on_commit(bot=bot)
    if refusal is not None:
        raise CloseRefused(f"The risk gate refused the close: {refusal.message}", fields={"code": [refusal.code]})
    if order is None:
        raise NothingToClose(f"{bot.name} has nothing free to sell.")
    if order.status == Order.Status.REJECTED:
        raise CloseRejected(f"The closing sell was rejected: {order.reason}")
    return CloseResult(bot=bot, order=order)


def bot_orders_cancel_all(*, bot: Bot, actor: User, request=None) -> int:
    """Cancel every open order of the bot (its reservations released); returns how many."""
    with transaction.atomic():
        count = orders_cancel_open(bot=bot, reason=f"cancelled by {actor.username}")
        audit_record(action="bot.cancel_orders", actor=actor, target=f"bot:{bot.pk}", request=request,
                     details={"cancelled": count})
    return count


def bots_resume_all(*, actor: User, request=None) -> list[Bot]:
    """Resume every halted bot of `actor` (after an emergency stop). Refused while a kill switch covers them."""
    if KillSwitch.objects.filter(key__in=[GLOBAL_KEY, user_key(actor.pk)], engaged=True).exists():
        raise KillSwitchEngaged("A kill switch is engaged: release it before resuming bots.")
    halted = list(Bot.objects.filter(owner=actor, status=Bot.Status.HALTED, archived_at__isnull=True).order_by("pk"))
    resumed = [bot_resume(bot=bot, actor=actor, request=request) for bot in halted]
    audit_record(action="bot.resume_all", actor=actor, target=f"user:{actor.pk}", request=request,
                 details={"bots": [b.pk for b in resumed]})
    return resumed
