"""Safety in one place: halt and resume, the emergency stop, circuit breakers, releasing a kill switch.

These act on bots and their orders, so they live in trading's execution layer; the flag itself (the
kill switch rows and their locks), the limits, the pure checks and risk events stay in risk, which
imports nothing from here. Safety never needs Celery: every function is synchronous, answers on its
own, and sends alerts and page pushes after commit from a short-lived thread.

Order of an emergency stop: 1. engage the kill switch and commit (risk.services.kill_switch_engage
waits for in-flight order transactions in scope; none can commit after it returns); 2. halt every
active bot in scope (or leave it running reduce-only) and cancel its open orders with one set-based
statement through the order writer; with `flatten`, sell each position at market; 3. audit, record a
risk event, alert after commit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from config.api import DomainError, NotFound
from risk.checks import Decision, Limits, RiskState, check_breakers
from risk.limits import limits_for
from risk.models import GLOBAL_KEY, KillSwitch, RiskEvent, user_key
from risk.services import (
    can_halt_any_bot,
    in_background,
    kill_switch_clear,
    kill_switch_engage,
    kill_switch_reauthenticate,
    risk_alert,
    risk_event_record,
)
from trading.events import bot_event_on_commit, bot_json, events_publish, order_json
from trading.execution.flatten import position_flatten
from trading.execution.live_exit import live_bots_to_paper
from trading.execution.live_orders import LiveCancelReport, live_orders_cancel, live_orders_unsent_cancel
from trading.execution.routing import LiveNotAllowed, is_paper
from trading.execution.writer import orders_cancel_bulk, orders_cancel_open
from trading.models import Bot, Order

ACTIVE_BOT_STATUSES = (Bot.Status.RUNNING, Bot.Status.PAUSED)
ORDER_EVENTS_MAX = 200  # a bigger stop pushes the bots' status only; pages reload their order lists


class KillSwitchEngaged(DomainError):
    code = "kill_switch_engaged"
    status = 409


class BotNotHalted(DomainError):
    code = "bot_not_halted"
    status = 409


def _push_in_background(events: list[tuple[int, dict]]) -> None:
    """After commit, push to open pages from a short-lived thread: the stop's answer never waits on it."""
    if not events:
        return
    batch = list(events)
    transaction.on_commit(lambda: threading.Thread(target=events_publish, args=(batch,), name="risk-push",
                                                   daemon=True).start())


# --- halting and resuming ------------------------------------------------------------------------------

def _halt_locked(*, bot: Bot, reason: str) -> int:
    """Halt a bot whose row the caller holds FOR UPDATE; returns how many orders were cancelled."""
    bot.status = Bot.Status.HALTED
    bot.halt_reason = reason[:200]
    bot.save(update_fields=["status", "halt_reason", "updated_at"])
    if is_paper(bot):
        cancelled = orders_cancel_open(bot=bot, reason=reason, locked=True)
    else:
        # a live bot's orders are on the exchange: cancelled there once this halt is committed (no I/O in here)
        cancelled = live_orders_unsent_cancel(bot_ids=[bot.pk], reason=reason)
        pk = bot.pk
        transaction.on_commit(lambda: _live_cancel_after_halt(pk, reason))
        live_bots_to_paper(bot_ids=[pk], reason=reason)  # a halted live bot is demoted with the halt
        bot.mode = Bot.Mode.PAPER
    bot_event_on_commit(bot=bot)
    return cancelled


def _live_cancel_after_halt(bot_id: int, reason: str) -> None:
    bot = Bot.objects.get(pk=bot_id)
    report = live_orders_cancel(bot=bot, reason=reason)
    if report.failed:
        risk_event_record(code="live_cancel_failed", severity=RiskEvent.CRITICAL, bot=bot,
                          message=f"Bot {bot.name} halted; {len(report.failed)} live order(s) could not be cancelled "
                                  f"on the exchange", details={"failed": report.failed})


def bot_halt(*, bot: Bot, actor: User | None, reason: str, code: str = "bot_halted", request=None) -> Bot:
    """Halt one bot now and cancel its open orders. A person resumes it."""
    if actor is not None and bot.owner_id != actor.pk and not can_halt_any_bot(actor):
        raise NotFound("Not found.")
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        cancelled = _halt_locked(bot=bot, reason=reason)
        risk_event_record(code=code, severity=RiskEvent.CRITICAL, bot=bot,
                          message=f"Bot {bot.name} halted: {reason}", details={"orders_cancelled": cancelled})
        audit_record(action="bot.halt", actor=actor, target=f"bot:{bot.pk}", request=request,
                     details={"reason": reason, "orders_cancelled": cancelled})
    return bot


def bot_resume(*, bot: Bot, actor: User, request=None) -> Bot:
    """A person resumes a halted bot (back to running). Refused while a kill switch covers it."""
    if bot.owner_id != actor.pk and not can_halt_any_bot(actor):
        raise NotFound("Not found.")
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        if bot.status != Bot.Status.HALTED:
            raise BotNotHalted(f"Bot {bot.name} is {bot.status}, not halted.")
        switches = KillSwitch.objects.filter(key__in=[GLOBAL_KEY, user_key(bot.owner_id)], engaged=True)
        if switches.exists():
            raise KillSwitchEngaged("A kill switch is engaged: release it before resuming bots.")
        previous = bot.halt_reason
        bot.status = Bot.Status.RUNNING
        bot.halt_reason = ""
        bot.save(update_fields=["status", "halt_reason", "updated_at"])
        bot_event_on_commit(bot=bot)
        risk_event_record(code="bot_resumed", severity=RiskEvent.INFO, bot=bot,
                          message=f"Bot {bot.name} resumed by {actor.username}.", details={"was": previous})
        audit_record(action="bot.resume", actor=actor, target=f"bot:{bot.pk}", request=request,
                     details={"halt_reason": previous})
    return bot


# --- releasing a kill switch -----------------------------------------------------------------------------

def kill_switch_release(*, scope: str, user: User | None, actor: User, password: str | None = None,
                        totp: str | None = None, request=None) -> KillSwitch | None:
    """Release a switch after re-authenticating the actor. Bots left running reduce-only by a stop trade
    normally again unless another engaged switch still covers them; halted bots stay halted."""
    method = kill_switch_reauthenticate(scope=scope, user=user, actor=actor, password=password, totp=totp,
                                        request=request)
    with transaction.atomic():
        switch = kill_switch_clear(scope=scope, user=user, actor=actor, method=method, request=request)
        if switch is None:
            return KillSwitch.objects.filter(key=GLOBAL_KEY if scope == KillSwitch.GLOBAL
                                             else user_key(user.pk)).first()
        still_on = KillSwitch.objects.filter(engaged=True)
        reduced = Bot.objects.filter(reduce_only=True)
        if scope == KillSwitch.USER:
            reduced = reduced.filter(owner=user) if not still_on.filter(key=GLOBAL_KEY).exists() else reduced.none()
        else:
            reduced = reduced.exclude(owner_id__in=still_on.filter(scope=KillSwitch.USER).values("user_id"))
        reduced.update(reduce_only=False, updated_at=timezone.now())
    in_background(risk_alert, user=user, event="kill_switch", severity="warning", title="Kill switch released",
                  text=f"The {scope} kill switch was released by {actor.username}.",
                  operator=scope == KillSwitch.GLOBAL)
    return switch


# --- the emergency stop --------------------------------------------------------------------------------

@dataclass
class StopResult:
    scope: str
    switch: KillSwitch
    bots_halted: list[int] = field(default_factory=list)
    bots_reduce_only: list[int] = field(default_factory=list)
    orders_cancelled: int = 0
    positions_flattened: int = 0
    flatten_failed: dict[int, str] = field(default_factory=dict)  # bot id -> why its position is still open
    owner_ids: set[int] = field(default_factory=set)
    live_orders_pending: int = 0  # live orders that could not be cancelled on the exchange (see live_orders_failed)
    live_orders_cancelled: list[dict] = field(default_factory=list)  # {"bot", "order", "exchange_order_id"}
    live_orders_failed: list[dict] = field(default_factory=list)  # {"bot", "order", "reason"}
    elapsed_ms: float = 0.0
    engaged_ms: float = 0.0  # from the call until the switch was committed (no order in scope after this)


def _flatten(*, bot: Bot, reason: str) -> str | None:
    """Sell the locked bot's position at market. None when done (or nothing held), else why it could not."""
    try:
        order = position_flatten(bot=bot, reason=reason, locked=True)
    except LiveNotAllowed as exc:  # a live bot is never sold on paper
        return exc.message
    if order is None or order.status == Order.Status.FILLED:
        return None
    return order.reason or "the market sell was rejected"


def emergency_stop(*, actor: User, scope: str = KillSwitch.USER, flatten: bool = False, reduce_only: bool = False,
                   reason: str = "", user: User | None = None, request=None) -> StopResult:
    """Stop trading in scope NOW, without Celery (see the module's docstring for the order of steps)."""
    started = time.perf_counter()
    if flatten and reduce_only:
        raise DomainError("Choose halt-and-flatten or reduce-only, not both.", code="invalid")
    user = (user or actor) if scope == KillSwitch.USER else None
    reason = (reason or f"Emergency stop by {actor.username}").strip()[:200]
    switch = kill_switch_engage(scope=scope, user=user, actor=actor, reason=reason, request=request, record=False)
    result = StopResult(scope=scope, switch=switch, engaged_ms=(time.perf_counter() - started) * 1000)
    bots = Bot.objects.filter(status__in=ACTIVE_BOT_STATUSES)
    if scope == KillSwitch.USER:
        bots = bots.filter(owner=user)
    with transaction.atomic():
        # set-based: a handful of statements whatever the number of bots (the tick holds each bot's
        # row while it works on it; we wait for those, in id order like the tick)
        locked = list(bots.select_for_update().order_by("pk").only("pk", "mode"))
        ids = [b.pk for b in locked]
        live_ids = [b.pk for b in locked if not is_paper(b)]
        if ids:
            _stop_bots(ids=ids, live_ids=live_ids, reason=reason, reduce_only=reduce_only, flatten=flatten, actor=actor,
                       result=result)
        risk_event_record(code="emergency_stop", severity=RiskEvent.CRITICAL, user=user,
                          message=f"Emergency stop ({scope}) by {actor.username}: "
                                  f"{len(result.bots_halted)} bot(s) halted, {result.orders_cancelled} order(s) "
                                  f"cancelled" + (f", {result.positions_flattened} position(s) closed" if flatten else ""),
                          details={"scope": scope, "bots_halted": result.bots_halted,
                                   "bots_reduce_only": result.bots_reduce_only, "flatten": flatten,
                                   "orders_cancelled": result.orders_cancelled,
                                   "positions_flattened": result.positions_flattened,
                                   "flatten_failed": {str(k): v for k, v in result.flatten_failed.items()}})
        audit_record(action="emergency_stop", actor=actor, target=f"kill_switch:{switch.key}", request=request,
                     details={"scope": scope, "flatten": flatten, "reduce_only": reduce_only,
                              "bots_halted": len(result.bots_halted), "orders_cancelled": result.orders_cancelled})
    if live_ids and not reduce_only:
        # the switch and the halts are committed: nothing new goes out. Now the exchange side, outside any
        # transaction: every open live order of these bots is cancelled there, and we say which could not be
        report = LiveCancelReport()
        for bot in Bot.objects.filter(pk__in=live_ids).order_by("pk"):
            live_orders_cancel(bot=bot, reason=reason, report=report)
        result.live_orders_cancelled, result.live_orders_failed = report.cancelled, report.failed
        result.live_orders_pending = len(report.failed)
        result.orders_cancelled += len(report.cancelled)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    text = (f"{actor.username} pressed the emergency stop ({scope}). Bots halted: {len(result.bots_halted)}; "
            f"orders cancelled: {result.orders_cancelled}" + (f"; positions closed: {result.positions_flattened}"
                                                              if flatten else "") + ".")
    # alerts go out after the answer (the stop is committed; a slow or down broker must not delay it):
    # the person who pressed it, the operator for a global stop, and every other affected trader
    in_background(_alert_stop, actor_id=actor.pk, user_ids=sorted(result.owner_ids - {actor.pk}),
                  text=text, global_stop=scope == KillSwitch.GLOBAL, reason=reason,
                  dedupe_key=f"emergency-stop:{switch.key}:{switch.engaged_at:%s}")
    return result


def _stop_bots(*, ids: list[int], live_ids: list[int], reason: str, reduce_only: bool, flatten: bool, actor,
               result: StopResult) -> None:
    changes = {"reduce_only": True} if reduce_only else {"status": Bot.Status.HALTED, "halt_reason": reason}
    # every open order is cancelled below, so nothing stays reserved
    Bot.objects.filter(pk__in=ids).update(**changes, base_reserved=0, quote_reserved=0, updated_at=timezone.now())
    if live_ids and not reduce_only:  # halted live bots go back to paper with the stop
        live_bots_to_paper(bot_ids=live_ids, reason=reason, actor=actor)
    changed = list(Bot.objects.filter(pk__in=ids).only(
        "id", "owner_id", "name", "exchange", "symbol", "status", "halt_reason", "base", "quote",
        "last_price", "updated_at", "reduce_only"))
    _push_in_background([(b.owner_id, {"type": "bot", "bot": bot_json(b)}) for b in changed])
    owners = {b.pk: b.owner_id for b in changed}
    result.owner_ids = set(owners.values())
    paper_ids = [i for i in ids if i not in set(live_ids)]
    cancelled = orders_cancel_bulk(bot_ids=paper_ids, reason=reason) if paper_ids else []
    # live orders never sent are cancelled here; those on the exchange after commit (emergency_stop)
    result.orders_cancelled = len(cancelled) + (live_orders_unsent_cancel(bot_ids=live_ids, reason=reason)
                                                if live_ids and not reduce_only else 0)
    if len(cancelled) <= ORDER_EVENTS_MAX:
        _push_in_background([(owners[o.bot_id], {"type": "order", "order": order_json(o)})
                             for o in Order.objects.filter(pk__in=cancelled)])
    (result.bots_reduce_only if reduce_only else result.bots_halted).extend(ids)
    if flatten:
        for bot in Bot.objects.filter(pk__in=ids, base__gt=0).order_by("pk"):
            if bot.pk in set(live_ids):  # demoted just now: its position is real, never sold on paper
                result.flatten_failed[bot.pk] = ("a live position is not sold on paper: the bot is back on paper, "
                                                 "close the position on the exchange")
                continue
            problem = _flatten(bot=bot, reason=reason)
            if problem is None:
                result.positions_flattened += 1
            else:
                result.flatten_failed[bot.pk] = problem


def _alert_stop(*, actor_id: int, user_ids: list[int], text: str, global_stop: bool, reason: str,
                dedupe_key: str) -> None:
    actor = User.objects.filter(pk=actor_id).first()
    if actor is not None:
        risk_alert(user=actor, event="kill_switch", severity="critical", title="Emergency stop", text=text,
                   operator=global_stop, dedupe_key=dedupe_key)
    if global_stop:
        for owner in User.objects.filter(pk__in=user_ids):
            risk_alert(user=owner, event="kill_switch", severity="critical", title="Global emergency stop",
                       text="The platform's global kill switch was engaged by staff: your bots are halted and "
                            f"their open orders cancelled. Reason: {reason}", dedupe_key=dedupe_key)


# --- circuit breakers ----------------------------------------------------------------------------------

def breakers_check(*, bot: Bot, state: RiskState, limits: Limits | None = None) -> Decision | None:
    """Evaluate the daily-loss / drawdown breakers for a bot whose row the caller holds FOR UPDATE.

    On a breach: halt the bot, cancel its open orders, record a risk event and alert (after
    commit). Returns the breach Decision, or None when the bot is within its limits.
    """
    if bot.status == Bot.Status.HALTED:
        return None
    decision = check_breakers(state, limits if limits is not None else limits_for(bot=bot))
    if decision.allowed:
        return None
    breach_halt(bot=bot, decision=decision)
    return decision


def breach_halt(*, bot: Bot, decision: Decision) -> None:
    """Halt a locked bot for a breach: cancel its orders, record the event, queue the alert with the same commit."""
    cancelled = _halt_locked(bot=bot, reason=f"Circuit breaker: {decision.reason}")
    risk_event_record(code=decision.code, severity=RiskEvent.CRITICAL, bot=bot,
                      message=f"Circuit breaker tripped on {bot.name}: {decision.reason}",
                      details={"orders_cancelled": cancelled})
    # the outbox row commits (or rolls back) with the halt; delivery is queued after commit
    risk_alert(user=bot.owner, bot=bot, event="risk", severity="critical", title=f"Bot {bot.name} halted",
               text=f"Circuit breaker: {decision.reason}. Open orders cancelled: {cancelled}. "
                    f"The bot stays halted until you resume it.",
               url_path=f"/bots/{bot.pk}/", dedupe_key=f"breaker:{bot.pk}:{timezone.now():%Y-%m-%dT%H:%M}")
