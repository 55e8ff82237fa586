"""Writes for risk: the order gate, kill switches, the emergency stop, halts, policies, breakers.

Safety never needs Celery: everything here is synchronous and answers on its own. The kill
switch rows are the synchronisation point between an emergency stop and order writes:

* `order_gate()` runs inside the per-bot order transaction: it takes shared advisory locks for
  the global and the owner's scope, then reads both switch rows with SELECT ... FOR SHARE,
  holding both until the order row is committed;
* engaging a switch takes the scope's exclusive advisory lock and UPDATEs the row: it waits
  for every order transaction holding the lock, later ones queue behind it (advisory locks
  queue fairly; row share locks alone let a stream of orders starve the writer), and every
  order transaction after it sees the switch engaged.

So once `kill_switch_engage()` (and hence `emergency_stop()`) returns, no order in its scope
can be committed any more.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status

from accounts.audit import audit_record
from accounts.models import User
from config.api import DomainError, NotFound
from risk.checks import Decision, Limits, OrderProposal, RiskState, check_breakers, check_order
from risk.models import GLOBAL_KEY, KillSwitch, RiskEvent, RiskPolicy, user_key
from risk.selectors import ENGAGED_CACHE_KEY
from trading.models import Bot

log = logging.getLogger(__name__)

ACTIVE_BOT_STATUSES = (Bot.Status.RUNNING, Bot.Status.PAUSED)

# What a platform policy holds when no row exists yet (the data migration writes the same values).
PLATFORM_DEFAULTS = {
    "max_position_quote": None,
    "max_position_pct": Decimal("100"),
    "max_open_trades": 10,
    "max_trades_per_day": 50,
    "daily_loss_pct": Decimal("5"),
    "max_drawdown_pct": Decimal("25"),
    "max_orders_per_minute": 10,
    "cooldown_minutes": 60,
    "user_daily_loss_pct": Decimal("5"),
}


class RiskForbidden(DomainError):
    code = "forbidden"
    status = status.HTTP_403_FORBIDDEN


class ReauthFailed(DomainError):
    code = "reauthentication_failed"
    status = status.HTTP_403_FORBIDDEN


class KillSwitchEngaged(DomainError):
    code = "kill_switch_engaged"
    status = status.HTTP_409_CONFLICT


class PolicyLoosened(DomainError):
    code = "policy_not_tighter"


class BotNotHalted(DomainError):
    code = "bot_not_halted"
    status = status.HTTP_409_CONFLICT


# --- permissions -----------------------------------------------------------------------------

def can_manage_global(user: User) -> bool:
    return bool(user and user.is_active and user.has_perm("risk.manage_global_kill_switch"))


def can_halt_any_bot(user: User) -> bool:
    return bool(user and user.is_active and user.has_perm("risk.halt_any_bot"))


def _check_scope_allowed(*, actor: User, scope: str, user: User | None) -> None:
    if scope == KillSwitch.GLOBAL:
        if not can_manage_global(actor):
            raise RiskForbidden("Only a risk officer or an administrator may use the global kill switch.")
    elif scope == KillSwitch.USER:
        if user is None:
            raise DomainError("A user kill switch needs a user.", code="invalid")
        if user.pk != actor.pk and not can_halt_any_bot(actor):
            raise NotFound("Not found.")  # someone else's switch: as if it did not exist
    else:
        raise DomainError(f"Unknown scope {scope!r}; use 'user' or 'global'.", code="invalid",
                          fields={"scope": ["Use 'user' or 'global'."]})


def _key(scope: str, user: User | None) -> str:
    return GLOBAL_KEY if scope == KillSwitch.GLOBAL else user_key(user.pk)


def _forget_engaged_cache() -> None:
    """Drop the banner cache once the change is committed (a failure is logged; it expires in 30 s)."""
    transaction.on_commit(lambda: cache.delete(ENGAGED_CACHE_KEY), robust=True)


def _in_background(target, **kwargs) -> None:
    """Run best-effort follow-ups (alerts) after the answer: a down broker must never slow a stop."""
    def run():
        try:
            target(**kwargs)
        except Exception:
            log.exception("risk follow-up %s failed", getattr(target, "__name__", target))
        finally:
            connection.close()

    threading.Thread(target=run, name="risk-followup", daemon=True).start()


# --- events and alerts -----------------------------------------------------------------------

def risk_event_record(*, code: str, message: str, user: User | None = None, bot: Bot | None = None,
                      severity: str = RiskEvent.WARNING, details: dict | None = None) -> RiskEvent:
    user_id = user.pk if user is not None else (bot.owner_id if bot is not None else None)
    return RiskEvent.objects.create(code=code, message=message[:500], user_id=user_id,
                                    bot_id=bot.pk if bot is not None else None, severity=severity,
                                    details=details or {})


def _alert(*, user: User | None, title: str, text: str, severity: str = "critical", bot: Bot | None = None,
           event: str = "risk", url_path: str = "/risk/", dedupe_key: str | None = None,
           operator: bool = False) -> None:
    """Raise an alert through the notifications app if it is installed. Never raises, never blocks."""
    try:
        from notifications import services as notify_services
    except ImportError:
        return
    try:
        if user is not None and hasattr(notify_services, "notify"):
            notify_services.notify(user=user, event=event, severity=severity, title=title, text=text,
                                   url_path=url_path, bot=bot, dedupe_key=dedupe_key)
        if operator and hasattr(notify_services, "notify_operator"):
            notify_services.notify_operator(event=event, severity=severity, title=title, text=text,
                                            url_path=url_path, dedupe_key=dedupe_key)
    except Exception:  # an alert must never break a safety action
        log.exception("risk alert could not be queued: %s", title)


# --- the kill switch rows --------------------------------------------------------------------

# Advisory locks queue fairly (a waiting stop blocks later orders); plain FOR SHARE row locks let
# a stream of overlapping order transactions starve the stop's UPDATE (measured: seconds). Orders
# take both: the shared advisory locks for fair queueing, FOR SHARE for the row itself.
RISK_LOCK_CLASS = 0x5249534B  # "RISK"
_GATE_LOCK_SQL = "SELECT pg_advisory_xact_lock_shared(%s, 0), pg_advisory_xact_lock_shared(%s, %s)"
_STOP_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, %s)"
_LOCK_SQL = "SELECT key, engaged FROM risk_killswitch WHERE key IN (%s, %s) FOR SHARE"


def _lock_id(user_id: int | None) -> int:
    return 0 if user_id is None else 1 + user_id % (2**31 - 2)


_ENSURE_SQL = (
    "INSERT INTO risk_killswitch (key, scope, user_id, engaged, reason, updated_at) "
    "VALUES (%s, %s, %s, false, '', now()) ON CONFLICT (key) DO NOTHING"
)


def _switch_rows_ensure(cursor, *, user_id: int, have: set[str]) -> None:
    if GLOBAL_KEY not in have:
        cursor.execute(_ENSURE_SQL, [GLOBAL_KEY, KillSwitch.GLOBAL, None])
    if user_key(user_id) not in have:
        cursor.execute(_ENSURE_SQL, [user_key(user_id), KillSwitch.USER, user_id])


def switches_lock_for_order(*, user_id: int) -> list[tuple[str, bool]]:
    """Lock (FOR SHARE) the global and the user's switch rows; creates missing rows first.

    Returns (key, engaged) for both rows. Must run inside the order's transaction. The locks last
    until that transaction ends, so they are taken once per owner per transaction: a tick chunk
    placing many orders for one owner pays the round trips once. A no-op on_commit marker records
    how long they are held: Django drops it exactly when the locks go (commit, rollback, or the
    rollback of the savepoint that took them), and then we lock again.
    """
    memo = getattr(connection, "_risk_switch_memo", None)
    if memo is None or len(memo) > 10_000:
        memo = connection._risk_switch_memo = {}
    entry = memo.get(user_id)
    if entry is not None and any(callback[1] is entry[0] for callback in connection.run_on_commit):
        return entry[1]
    rows = _switches_lock(user_id)

    def locks_held() -> None:  # marker only
        return None

    transaction.on_commit(locks_held)
    memo[user_id] = (locks_held, rows)
    return rows


def _forget_locked_switches() -> None:
    """This connection changed a switch itself (its own row locks do not stop it): re-read next time."""
    connection._risk_switch_memo = {}


def _switches_lock(user_id: int) -> list[tuple[str, bool]]:
    keys = [GLOBAL_KEY, user_key(user_id)]
    with connection.cursor() as cursor:
        cursor.execute(_GATE_LOCK_SQL, [RISK_LOCK_CLASS, RISK_LOCK_CLASS, _lock_id(user_id)])
        cursor.execute(_LOCK_SQL, keys)
        rows = cursor.fetchall()
        if len(rows) < 2:
            # A row that does not exist cannot be locked: create it (a concurrent engage either
            # created it first, and we now wait for it, or conflicts with ours and waits for us).
            _switch_rows_ensure(cursor, user_id=user_id, have={r[0] for r in rows})
            cursor.execute(_LOCK_SQL, keys)
            rows = cursor.fetchall()
    return rows


def kill_switch_engage(*, scope: str, user: User | None, actor: User, reason: str = "", request=None,
                       record: bool = True) -> KillSwitch:
    """Engage a switch and commit. Waits for in-flight order transactions in scope; later ones see it.

    `record=False`: no risk event of its own (the emergency stop records one for the whole stop)."""
    _check_scope_allowed(actor=actor, scope=scope, user=user)
    key = _key(scope, user)
    now = timezone.now()
    reason = (reason or "Emergency stop").strip()[:500]
    for attempt in range(3):
        try:
            return _engage_once(scope=scope, user=user, actor=actor, key=key, reason=reason, now=now,
                                request=request, record=record)
        except OperationalError as exc:  # a deadlock with a multi-user tick transaction: that one lost
            if attempt == 2 or "deadlock" not in str(exc).lower():
                raise
            log.warning("kill switch engage hit a deadlock; retrying")
    raise AssertionError("unreachable")


def _engage_once(*, scope, user, actor, key, reason, now, request, record) -> KillSwitch:
    with transaction.atomic():
        with connection.cursor() as cursor:
            # wait for every order transaction in scope to finish; later ones queue behind us
            cursor.execute(_STOP_LOCK_SQL, [RISK_LOCK_CLASS, _lock_id(None if scope == KillSwitch.GLOBAL
                                                                       else user.pk)])
        switch = list(KillSwitch.objects.raw(
            "INSERT INTO risk_killswitch (key, scope, user_id, engaged, engaged_by_id, engaged_at, reason, "
            "updated_at) VALUES (%s, %s, %s, true, %s, %s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET engaged = true, engaged_by_id = EXCLUDED.engaged_by_id, "
            "engaged_at = EXCLUDED.engaged_at, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at "
            "RETURNING *",
            [key, scope, None if scope == KillSwitch.GLOBAL else user.pk, actor.pk, now, reason, now],
        ))[0]
        audit_record(action="kill_switch.engage", actor=actor, target=f"kill_switch:{key}", request=request,
                     details={"scope": scope, "reason": reason})
        _forget_locked_switches()
        if record:
            risk_event_record(code="kill_switch_engaged", severity=RiskEvent.CRITICAL, user=user,
                              message=f"{'Global' if scope == KillSwitch.GLOBAL else 'Your'} kill switch engaged: "
                                      f"{reason}", details={"scope": scope, "by": actor.username})
        _forget_engaged_cache()
    return switch


def _totp_valid(user: User, code: str) -> bool:
    """The accounts app owns the (encrypted) secret: its verifier checks the code and spends its time step."""
    from accounts.services import totp_verify

    return bool(totp_verify(user=user, code=code))


REAUTH_MAX_FAILURES = 5
REAUTH_WINDOW_SECONDS = 600


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = status.HTTP_429_TOO_MANY_REQUESTS


def _reauthenticate(*, actor: User, password: str | None, totp: str | None) -> str:
    """Password or TOTP of the person releasing a switch; 5 failures lock it for 10 minutes."""
    key = f"risk:reauth-failures:{actor.pk}"
    if (cache.get(key) or 0) >= REAUTH_MAX_FAILURES:
        raise TooManyAttempts("Too many wrong passwords or codes: try again in a few minutes.")
    try:
        return _reauth_check(actor=actor, password=password, totp=totp)
    except ReauthFailed:
        if cache.add(key, 1, timeout=REAUTH_WINDOW_SECONDS) is False:
            cache.incr(key)
        raise


def _reauth_check(*, actor: User, password: str | None, totp: str | None) -> str:
    if password:
        if actor.check_password(password):
            return "password"
        raise ReauthFailed("That password is not right.", fields={"password": ["That password is not right."]})
    if totp:
        if not actor.totp_enabled:
            raise ReauthFailed("Two-factor codes are not set up for your account; confirm with your password.",
                               fields={"totp": ["Not set up for this account."]})
        if _totp_valid(actor, str(totp).strip()):
            return "totp"
        raise ReauthFailed("That code is not right.", fields={"totp": ["That code is not right."]})
    raise ReauthFailed("Confirm with your password or a two-factor code.",
                       fields={"password": ["Required (or totp)."]})


def kill_switch_release(*, scope: str, user: User | None, actor: User, password: str | None = None,
                        totp: str | None = None, request=None) -> KillSwitch | None:
    """Release a switch after re-authenticating the actor. Halted bots stay halted."""
    _check_scope_allowed(actor=actor, scope=scope, user=user)
    key = _key(scope, user)
    try:
        method = _reauthenticate(actor=actor, password=password, totp=totp)
    except (ReauthFailed, TooManyAttempts):
        audit_record(action="kill_switch.release_refused", actor=actor, target=f"kill_switch:{key}",
                     request=request, details={"scope": scope, "why": "reauthentication failed"})
        raise
    with transaction.atomic():
        switch = KillSwitch.objects.select_for_update().filter(key=key).first()
        if switch is None or not switch.engaged:
            return switch
        switch.engaged = False
        switch.released_by = actor
        switch.released_at = timezone.now()
        switch.save(update_fields=["engaged", "released_by", "released_at", "updated_at"])
        _forget_locked_switches()
        # bots left running reduce-only by a stop trade normally again, unless another engaged switch
        # still covers them; halted bots stay halted
        still_on = KillSwitch.objects.filter(engaged=True)
        reduced = Bot.objects.filter(reduce_only=True)
        if scope == KillSwitch.USER:
            reduced = reduced.filter(owner=user) if not still_on.filter(key=GLOBAL_KEY).exists() else reduced.none()
        else:
            reduced = reduced.exclude(owner_id__in=still_on.filter(scope=KillSwitch.USER).values("user_id"))
        reduced.update(reduce_only=False, updated_at=timezone.now())
        audit_record(action="kill_switch.release", actor=actor, target=f"kill_switch:{key}", request=request,
                     details={"scope": scope, "reauth": method})
        risk_event_record(code="kill_switch_released", severity=RiskEvent.INFO, user=user,
                          message=f"{'Global' if scope == KillSwitch.GLOBAL else 'Your'} kill switch released "
                                  f"by {actor.username}. Halted bots stay halted until resumed.",
                          details={"scope": scope, "by": actor.username})
        _forget_engaged_cache()
    _in_background(_alert, user=user, event="kill_switch", severity="warning", title="Kill switch released",
                   text=f"The {scope} kill switch was released by {actor.username}.",
                   operator=scope == KillSwitch.GLOBAL)
    return switch


# --- policies and limits ---------------------------------------------------------------------

def platform_policy() -> RiskPolicy:
    policy = RiskPolicy.objects.filter(scope=RiskPolicy.PLATFORM).first()
    if policy is None:
        policy, _ = RiskPolicy.objects.get_or_create(scope=RiskPolicy.PLATFORM, defaults=PLATFORM_DEFAULTS)
    return policy


def _tighter(name: str, a, b):
    """The tighter of two values; None means "no limit" / "inherit"."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if name in RiskPolicy.LONGER_IS_TIGHTER else min(a, b)


def effective_limits(*, policies: list[RiskPolicy]) -> dict:
    """Combine platform, user and bot rows: each field is the tightest value any row sets."""
    out = dict.fromkeys(RiskPolicy.LIMIT_FIELDS)
    for policy in policies:
        for name in RiskPolicy.LIMIT_FIELDS:
            out[name] = _tighter(name, out[name], getattr(policy, name))
    return out


def _policies_for_bot(bot: Bot) -> list[RiskPolicy]:
    rows = list(RiskPolicy.objects.filter(
        Q(scope=RiskPolicy.PLATFORM) | Q(scope=RiskPolicy.USER, user_id=bot.owner_id)
        | Q(scope=RiskPolicy.BOT, bot_id=bot.pk)))
    if not any(r.scope == RiskPolicy.PLATFORM for r in rows):
        rows.append(platform_policy())
    return rows


def limits_for(*, bot: Bot) -> Limits:
    return limits_from(effective_limits(policies=_policies_for_bot(bot)))


def limits_from(values: dict) -> Limits:
    return Limits(**{k: v for k, v in values.items() if k in Limits.__dataclass_fields__})


def policy_tighten(*, actor: User, user: User, bot: Bot | None = None, values: dict, request=None) -> RiskPolicy:
    """Set a user's (or one bot's) override. Every value must be at least as tight as what applies now
    from the levels above (platform, and the user's row for a bot). Blank values inherit."""
    scope = RiskPolicy.BOT if bot is not None else RiskPolicy.USER
    above = [platform_policy()]
    if bot is not None:
        above += list(RiskPolicy.objects.filter(scope=RiskPolicy.USER, user=user))
    bounds = effective_limits(policies=above)
    errors = {}
    for name, value in values.items():
        if name not in RiskPolicy.LIMIT_FIELDS or value is None:
            continue
        bound = bounds[name]
        if bound is None:
            continue
        looser = value < bound if name in RiskPolicy.LONGER_IS_TIGHTER else value > bound
        if looser:
            word = "at least" if name in RiskPolicy.LONGER_IS_TIGHTER else "at most"
            errors[name] = [f"Must be {word} {bound} (the limit that applies above this level)."]
    if errors:
        first = next(iter(errors))
        raise PolicyLoosened(f"{first}: {errors[first][0]} Overrides can only tighten limits.", fields=errors)
    with transaction.atomic():
        lookup = {"scope": scope, "bot": bot} if bot is not None else {"scope": scope, "user": user}
        policy = RiskPolicy.objects.select_for_update().filter(**lookup).first() or RiskPolicy(
            **{"user": user, **lookup})
        for name in RiskPolicy.LIMIT_FIELDS:
            if name in values:
                setattr(policy, name, values[name])
        policy.updated_by = actor
        policy.save()
        audit_record(action="risk_policy.tighten", actor=actor,
                     target=f"bot:{bot.pk}" if bot is not None else f"user:{user.pk}", request=request,
                     details={k: (None if v is None else str(v)) for k, v in values.items()})
    return policy


# --- the order gate ----------------------------------------------------------------------------

BREACH_CODES = ("daily_loss", "max_drawdown", "user_daily_loss")


def _cooldown_until_ms(*, bot: Bot, limits: Limits) -> int | None:
    """End of the cool-down after the bot's latest breach, in unix ms (None if no cool-down applies)."""
    if not limits.cooldown_minutes:
        return None
    last = (RiskEvent.objects.filter(bot=bot, code__in=BREACH_CODES).order_by("-created_at")
            .values_list("created_at", flat=True).first())
    if last is None:
        return None
    return int(last.timestamp() * 1000) + limits.cooldown_minutes * 60_000


def order_gate(*, bot: Bot, proposal: OrderProposal, state: RiskState, limits: Limits | None = None) -> Decision:
    """THE pre-trade gate. Call it inside the per-bot transaction right before writing the order row.

    Locks the global and owner kill switch rows FOR SHARE until that transaction ends, so an
    emergency stop (which UPDATEs those rows) waits for this order to commit and every later
    order sees the switch. The switch, halt and reduce-only flags come from the database, not the
    caller; then the pure checks run with the bot's effective limits (`limits`, if the caller
    already computed them for many bots at once). A refusal is recorded as a RiskEvent in the
    same transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("order_gate() must run inside the transaction that writes the order")
    rows = switches_lock_for_order(user_id=bot.owner_id)
    engaged = [key for key, on in rows if on]
    limits = limits if limits is not None else limits_for(bot=bot)
    state = replace(
        state,
        kill_switch=bool(engaged),
        halted=state.halted or bot.status == Bot.Status.HALTED,
        reduce_only=state.reduce_only or bot.reduce_only,
        cooldown_until_ms=state.cooldown_until_ms if state.cooldown_until_ms is not None
        else _cooldown_until_ms(bot=bot, limits=limits),
        now_ms=state.now_ms or int(time.time() * 1000),
    )
    decision = check_order(proposal, state, limits)
    if not decision.allowed:
        if decision.code == "kill_switch":
            which = "global" if GLOBAL_KEY in engaged else "your"
            decision = Decision(False, decision.code,
                                decision.message.replace("The kill switch", f"The {which} kill switch"))
        _refusal_record(bot=bot, proposal=proposal, decision=decision)
    return decision


REFUSAL_REPEAT_SECONDS = 300  # the same refusal of the same bot is recorded once per 5 minutes


def _refusal_record(*, bot: Bot, proposal: OrderProposal, decision: Decision) -> None:
    """One event per bot and reason per few minutes: a bot refused on every tick must not flood the log."""
    since = timezone.now() - timedelta(seconds=REFUSAL_REPEAT_SECONDS)
    if RiskEvent.objects.filter(bot_id=bot.pk, code=decision.code, created_at__gte=since).exists():
        return
    risk_event_record(code=decision.code, message=f"Order refused: {decision.reason}", bot=bot,
                      severity=RiskEvent.WARNING,
                      details={"side": proposal.side, "amount": str(proposal.amount),
                               "price": None if getattr(proposal, "price", None) is None else str(proposal.price)})


# --- halting, resuming, cancelling -------------------------------------------------------------

def _orders_cancel_open(*, bot: Bot, reason: str) -> int:
    """Cancel a locked bot's open paper orders (funds released by the trading service)."""
    from trading.services.orders import orders_cancel_open

    return orders_cancel_open(bot=bot, reason=reason, locked=True)


def _position_flatten(*, bot: Bot, reason: str) -> str | None:
    """Sell the locked bot's position at market. None when done (or nothing held), else why it could not."""
    from trading.services.orders import position_flatten

    order = position_flatten(bot=bot, reason=reason, locked=True)
    if order is None or order.status == "filled":
        return None
    return order.reason or "the market sell was rejected"


ORDER_EVENTS_MAX = 200  # a bigger stop pushes the bots' status only; pages reload their order lists


def _orders_cancel_bulk(*, bot_ids: list[int], reason: str, owners: dict[int, int]) -> int:
    """Cancel every open paper order of these (locked) bots in one statement; nothing stays reserved.

    Same effect as trading.services.orders.orders_cancel_open per bot (status cancelled, resting
    cleared, reservations released by the caller), set-based so a stop of many bots answers fast.
    """
    from trading.models import Order
    from trading.services.events import order_json

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trading_order SET status = %s, reason = %s, resting = NULL, updated_at = %s, "
            "closed_at = %s WHERE bot_id = ANY(%s) AND status = ANY(%s) RETURNING id",
            [Order.Status.CANCELLED, reason[:200], now, now, bot_ids, list(Order.OPEN_STATUSES)])
        cancelled = [row[0] for row in cursor.fetchall()]
    if len(cancelled) <= ORDER_EVENTS_MAX:
        _push_in_background([(owners[o.bot_id], {"type": "order", "order": order_json(o)})
                             for o in Order.objects.filter(pk__in=cancelled)])
    return len(cancelled)


def _push_in_background(events: list[tuple[int, dict]]) -> None:
    """After commit, push to open pages from a short-lived thread: the stop's answer never waits on it."""
    if not events:
        return
    from trading.services.events import events_publish

    batch = list(events)
    transaction.on_commit(lambda: threading.Thread(target=events_publish, args=(batch,), name="risk-push",
                                                   daemon=True).start())


def _bot_status_push(bot: Bot) -> None:
    """Open pages see the bot's new status (sent after commit by the trading app)."""
    from trading.services.events import bot_event_on_commit

    bot_event_on_commit(bot=bot)


def _halt_locked(*, bot: Bot, reason: str) -> int:
    """Halt a bot whose row the caller holds FOR UPDATE; returns how many orders were cancelled."""
    bot.status = Bot.Status.HALTED
    bot.halt_reason = reason[:200]
    bot.save(update_fields=["status", "halt_reason", "updated_at"])
    cancelled = _orders_cancel_open(bot=bot, reason=reason)
    _bot_status_push(bot)
    return cancelled


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
        _bot_status_push(bot)
        risk_event_record(code="bot_resumed", severity=RiskEvent.INFO, bot=bot,
                          message=f"Bot {bot.name} resumed by {actor.username}.", details={"was": previous})
        audit_record(action="bot.resume", actor=actor, target=f"bot:{bot.pk}", request=request,
                     details={"halt_reason": previous})
    return bot


# --- the emergency stop ------------------------------------------------------------------------

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
    live_orders_pending: int = 0
    elapsed_ms: float = 0.0
    engaged_ms: float = 0.0  # from the call until the switch was committed (no order in scope after this)


def emergency_stop(*, actor: User, scope: str = KillSwitch.USER, flatten: bool = False, reduce_only: bool = False,
                   reason: str = "", user: User | None = None, request=None) -> StopResult:
    """Stop trading in scope NOW, without Celery.

    1. engage the kill switch and commit (waits for in-flight order transactions; no order in
       scope can be committed after this);
    2. halt every running/paused bot in scope (or leave them running reduce-only), cancel their
       open paper orders, and with `flatten` close their positions at market;
    3. audit, record a risk event, queue alerts after commit.
    """
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
        rows = list(bots.select_for_update().order_by("pk").values_list("pk", "mode"))
        ids = [pk for pk, _ in rows]
        if ids:
            changes = {"reduce_only": True} if reduce_only else {"status": Bot.Status.HALTED, "halt_reason": reason}
            # every open order is cancelled below, so nothing stays reserved
            Bot.objects.filter(pk__in=ids).update(**changes, base_reserved=0, quote_reserved=0,
                                                  updated_at=timezone.now())
            from trading.services.events import bot_json

            changed = list(Bot.objects.filter(pk__in=ids).only(
                "id", "owner_id", "name", "exchange", "symbol", "status", "halt_reason", "base", "quote",
                "last_price", "updated_at", "reduce_only"))
            _push_in_background([(b.owner_id, {"type": "bot", "bot": bot_json(b)}) for b in changed])
            result.owner_ids = {b.owner_id for b in changed}
            result.orders_cancelled = _orders_cancel_bulk(bot_ids=ids, reason=reason,
                                                          owners={b.pk: b.owner_id for b in changed})
            (result.bots_reduce_only if reduce_only else result.bots_halted).extend(ids)
            if flatten:
                for bot in Bot.objects.filter(pk__in=ids, base__gt=0).order_by("pk"):
                    problem = _position_flatten(bot=bot, reason=reason)
                    if problem is None:
                        result.positions_flattened += 1
                    else:
                        result.flatten_failed[bot.pk] = problem
            # Live execution does not exist yet. When it does, cancel live orders on the exchange here
            # via a retried-until-confirmed job (after this commit); the DB state above already keeps
            # the platform from placing anything new for these bots.
            result.live_orders_pending = sum(1 for _, mode in rows if mode == Bot.Mode.LIVE)
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
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    text = (f"{actor.username} pressed the emergency stop ({scope}). Bots halted: {len(result.bots_halted)}; "
            f"orders cancelled: {result.orders_cancelled}" + (f"; positions closed: {result.positions_flattened}"
                                                              if flatten else "") + ".")
    # alerts go out after the answer (the stop is committed; a slow or down broker must not delay it):
    # the person who pressed it, the operator for a global stop, and every other affected trader
    _in_background(_alert_stop, actor_id=actor.pk, user_ids=sorted(result.owner_ids - {actor.pk}),
                   text=text, global_stop=scope == KillSwitch.GLOBAL, reason=reason,
                   dedupe_key=f"emergency-stop:{switch.key}:{switch.engaged_at:%s}")
    return result


def _alert_stop(*, actor_id: int, user_ids: list[int], text: str, global_stop: bool, reason: str,
                dedupe_key: str) -> None:
    actor = User.objects.filter(pk=actor_id).first()
    if actor is not None:
        _alert(user=actor, event="kill_switch", severity="critical", title="Emergency stop", text=text,
               operator=global_stop, dedupe_key=dedupe_key)
    if global_stop:
        for owner in User.objects.filter(pk__in=user_ids):
            _alert(user=owner, event="kill_switch", severity="critical", title="Global emergency stop",
                   text="The platform's global kill switch was engaged by staff: your bots are halted and their "
                        f"open orders cancelled. Reason: {reason}", dedupe_key=dedupe_key)


# --- circuit breakers ----------------------------------------------------------------------------

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
    _breach_halt(bot=bot, decision=decision)
    return decision


def _breach_halt(*, bot: Bot, decision: Decision) -> None:
    """Halt a locked bot for a breach: cancel its orders, record the event, queue the alert with the same commit."""
    cancelled = _halt_locked(bot=bot, reason=f"Circuit breaker: {decision.reason}")
    risk_event_record(code=decision.code, severity=RiskEvent.CRITICAL, bot=bot,
                      message=f"Circuit breaker tripped on {bot.name}: {decision.reason}",
                      details={"orders_cancelled": cancelled})
    # the outbox row commits (or rolls back) with the halt; delivery is queued after commit
    _alert(user=bot.owner, bot=bot, event="risk", severity="critical", title=f"Bot {bot.name} halted",
           text=f"Circuit breaker: {decision.reason}. Open orders cancelled: {cancelled}. "
                f"The bot stays halted until you resume it.",
           url_path=f"/bots/{bot.pk}/", dedupe_key=f"breaker:{bot.pk}:{timezone.now():%Y-%m-%dT%H:%M}")


def _bot_risk_state(bot: Bot, price: Decimal | None, now_ms: int) -> RiskState | None:
    """What the tick path would see, from the bot's wallet, its risk memory and the latest price."""
    price = price if price is not None else bot.last_price
    if price is None:
        return None
    equity = bot.quote + bot.base * price
    mem = (bot.state or {}).get("risk") or {}
    today = timezone.now().strftime("%Y-%m-%d")
    day_start = Decimal(mem["day_start_equity"]) if mem.get("day") == today and mem.get("day_start_equity") \
        else equity
    peak = max(Decimal(mem.get("peak_equity") or equity), equity)
    return RiskState(equity=equity, day_start_equity=day_start, peak_equity=peak, position_value=bot.base * price,
                     position_base=bot.base, now_ms=now_ms)


def risk_monitor_run() -> dict:
    """The periodic risk monitor: daily loss / drawdown per bot, and daily loss per user across bots.

    Reads prices from the price store (never the exchange), then halts breaching bots one short
    transaction each. Safe to run next to the tick path (both lock the bot row; a halted bot is
    skipped).
    """
    from trading.services.prices import tickers_latest

    now_ms = int(time.time() * 1000)
    bots = list(Bot.objects.filter(status__in=ACTIVE_BOT_STATUSES, archived_at__isnull=True)
                .only("id", "owner_id", "name", "exchange", "symbol", "status", "base", "quote", "state",
                      "last_price", "reduce_only"))
    wanted: dict[str, set[str]] = {}
    for bot in bots:
        wanted.setdefault(bot.exchange, set()).add(bot.symbol)
    prices: dict[tuple[str, str], Decimal] = {}
    for exchange, symbols in wanted.items():
        try:
            ticks = tickers_latest(exchange=exchange, symbols=sorted(symbols))
        except Exception:  # price store down: fall back to each bot's last known price
            log.warning("risk monitor: no prices for %s", exchange)
            continue
        for symbol, tick in ticks.items():
            if tick is not None and tick.last is not None:
                prices[(exchange, symbol)] = tick.last
    summary = {"bots": len(bots), "halted": [], "users_halted": []}
    bot_limits, user_limits = _limits_many(bots)
    per_user: dict[int, list[tuple[Bot, RiskState]]] = {}
    for bot in bots:
        state = _bot_risk_state(bot, prices.get((bot.exchange, bot.symbol)), now_ms)
        if state is None:
            continue
        per_user.setdefault(bot.owner_id, []).append((bot, state))
        limits = limits_from(bot_limits[bot.pk])
        if check_breakers(state, limits).allowed:
            continue
        with transaction.atomic():
            locked = Bot.objects.select_for_update().filter(pk=bot.pk, status__in=ACTIVE_BOT_STATUSES).first()
            if locked is None:
                continue
            state = _bot_risk_state(locked, prices.get((bot.exchange, bot.symbol)), now_ms) or state
            if breakers_check(bot=locked, state=state, limits=limits):
                summary["halted"].append(bot.pk)
    for user_id, rows in per_user.items():
        user_limit = user_limits[user_id]["user_daily_loss_pct"]
        start = sum((s.day_start_equity for _, s in rows), Decimal(0))
        now_equity = sum((s.equity for _, s in rows), Decimal(0))
        if user_limit is None or start <= 0:
            continue
        loss_pct = (start - now_equity) / start * 100
        if loss_pct < user_limit:
            continue
        decision = Decision(False, "user_daily_loss",
                            f"Your bots together lost {loss_pct.quantize(Decimal('0.01'))}% today, reaching the "
                            f"limit of {user_limit}% of the day's starting equity")
        with transaction.atomic():
            for bot in Bot.objects.select_for_update().filter(owner_id=user_id, status__in=ACTIVE_BOT_STATUSES) \
                    .order_by("pk"):
                _breach_halt(bot=bot, decision=decision)
                summary["halted"].append(bot.pk)
        summary["users_halted"].append(user_id)
    return summary


def _limits_many(bots: list[Bot]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Effective limits for many bots and their owners with one query: ({bot id: values}, {user id: values})."""
    owners = {b.owner_id for b in bots}
    rows = list(RiskPolicy.objects.filter(Q(scope=RiskPolicy.PLATFORM) | Q(scope=RiskPolicy.USER, user_id__in=owners)
                                          | Q(scope=RiskPolicy.BOT, bot_id__in=[b.pk for b in bots])))
    platform = [r for r in rows if r.scope == RiskPolicy.PLATFORM] or [platform_policy()]
    by_user: dict[int, list[RiskPolicy]] = {}
    by_bot: dict[int, list[RiskPolicy]] = {}
    for r in rows:
        if r.scope == RiskPolicy.USER:
            by_user.setdefault(r.user_id, []).append(r)
        elif r.scope == RiskPolicy.BOT:
            by_bot.setdefault(r.bot_id, []).append(r)
    users = {u: effective_limits(policies=[*platform, *by_user.get(u, [])]) for u in owners}
    per_bot = {b.pk: effective_limits(policies=[*platform, *by_user.get(b.owner_id, []), *by_bot.get(b.pk, [])])
               for b in bots}
    return per_bot, users


# --- system status -----------------------------------------------------------------------------

def feature_flags() -> dict:
    return {"trading": settings.ENABLE_TRADING, "live_trading": settings.ENABLE_LIVE_TRADING,
            "schedulers": settings.ENABLE_SCHEDULERS}


def feed_health() -> dict:
    """Per exchange in use: how many symbols are fresh / stale, and why; never raises."""
    from trading.services.prices import symbols_in_use, tickers_latest

    out = {"source": settings.MARKET_DATA_SOURCE, "healthy": True, "exchanges": []}
    try:
        for exchange, symbols in sorted(symbols_in_use().items()):
            ticks = tickers_latest(exchange=exchange, symbols=sorted(symbols))
            stale = {s: (t.reason if t is not None else "not polled yet")
                     for s, t in ticks.items() if t is None or t.stale}
            out["exchanges"].append({"exchange": exchange, "symbols": len(ticks), "stale": len(stale),
                                     "stale_reasons": stale})
            out["healthy"] = out["healthy"] and not stale
    except Exception as exc:  # Redis down: say so instead of failing the status page
        log.warning("feed health unavailable: %s", exc.__class__.__name__)
        out.update(healthy=False, error="price store unavailable")
    return out
