"""Writes for risk: the kill-switch flag, the order gate, policies, risk events and risk alerts.

Risk sits below trading and imports none of it: what acts on bots and orders (the emergency stop,
halt/resume, circuit breakers, the bulk cancel) lives in trading/execution/safety.py and calls in
here. Bots are passed in as objects with `pk`, `owner_id`, `status`, `reduce_only` and `name`.

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
from dataclasses import replace
from datetime import timedelta

from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from rest_framework import status

from accounts.audit import audit_record
from accounts.models import User
from accounts.services import ReauthFailed, ReauthTooManyAttempts, user_reauthenticate
from config.api import DomainError, NotFound
from notifications.services import notify, notify_operator
from risk.checks import (
    BREACH_CODES,
    LIMIT_FIELDS,
    LONGER_IS_TIGHTER,
    Decision,
    Limits,
    OrderProposal,
    RiskState,
    check_order,
)
from risk.limits import effective_limits, limits_for, platform_policy
from risk.models import GLOBAL_KEY, KillSwitch, RiskEvent, RiskPolicy, user_key
from risk.selectors import ENGAGED_CACHE_KEY

log = logging.getLogger(__name__)

HALTED_STATUS = "halted"  # a bot's status when a person must resume it (trading's Bot.Status.HALTED)


class RiskForbidden(DomainError):
    code = "forbidden"
    status = status.HTTP_403_FORBIDDEN


class KillSwitchEngaged(DomainError):
    code = "kill_switch_engaged"
    status = status.HTTP_409_CONFLICT


class PolicyLoosened(DomainError):
    """A well-formed override that the limits above it (platform, user) do not allow: a conflict with the
    current state, not bad input (the schema cannot know the platform's limits)."""

    code = "policy_not_tighter"
    status = status.HTTP_409_CONFLICT


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


def forget_engaged_cache() -> None:
    """Drop the banner cache once the change is committed (a failure is logged; it expires in 30 s)."""
    transaction.on_commit(lambda: cache.delete(ENGAGED_CACHE_KEY), robust=True)


def in_background(target, **kwargs) -> None:
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

def risk_event_record(*, code: str, message: str, user: User | None = None, bot=None,
                      severity: str = RiskEvent.WARNING, details: dict | None = None) -> RiskEvent:
    user_id = user.pk if user is not None else (bot.owner_id if bot is not None else None)
    return RiskEvent.objects.create(code=code, message=message[:500], user_id=user_id,
                                    bot_id=bot.pk if bot is not None else None, severity=severity,
                                    details=details or {})


def risk_alert(*, user: User | None, title: str, text: str, severity: str = "critical", bot=None,
               event: str = "risk", url_path: str = "/risk/", dedupe_key: str | None = None,
               operator: bool = False) -> None:
    """Raise an alert (an outbox row in the caller's transaction). Never raises, never blocks."""
    try:
        if user is not None:
            notify(user=user, event=event, severity=severity, title=title, text=text, url_path=url_path, bot=bot,
                   dedupe_key=dedupe_key)
        if operator:
            notify_operator(event=event, severity=severity, title=title, text=text, url_path=url_path,
                            dedupe_key=dedupe_key)
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


_ENSURE_MANY_SQL = (
    "INSERT INTO risk_killswitch (key, scope, user_id, engaged, reason, updated_at) "
    "SELECT k, s, u, false, '', now() FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS t(k, s, u) "
    "ORDER BY k ON CONFLICT (key) DO NOTHING"
)
_ensured_users: set[int] = set()  # switch rows this process knows exist (rows go only with their user)


def switch_rows_ensure(*, user_ids) -> int:
    """Create the global and these users' switch rows that do not exist yet, in ONE statement, in key order.

    Call it outside (before) the transactions that lock switch rows for orders: two order transactions that
    each created rows for several owners inside themselves could deadlock on each other's uncommitted rows
    (seen with three tick shards on one exchange). Remembered per process, so a tick pays it once per new
    owner. Returns how many users were checked."""
    todo = sorted({int(u) for u in user_ids} - _ensured_users)
    if not todo:
        return 0
    keys = [GLOBAL_KEY, *[user_key(u) for u in todo]]
    scopes = [KillSwitch.GLOBAL, *[KillSwitch.USER] * len(todo)]
    with connection.cursor() as cursor:
        cursor.execute(_ENSURE_MANY_SQL, [keys, scopes, [None, *todo]])
    _ensured_users.update(todo)
    return len(todo)


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


def forget_locked_switches() -> None:
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
        forget_locked_switches()
        if record:
            risk_event_record(code="kill_switch_engaged", severity=RiskEvent.CRITICAL, user=user,
                              message=f"{'Global' if scope == KillSwitch.GLOBAL else 'Your'} kill switch engaged: "
                                      f"{reason}", details={"scope": scope, "by": actor.username})
        forget_engaged_cache()
    return switch


def kill_switch_reauthenticate(*, scope: str, user: User | None, actor: User, password: str | None = None,
                                totp: str | None = None, request=None) -> str:
    """Who releases a switch proves it is them again (password or TOTP); a refusal is audited.

    Returns how ("password" / "totp"). Call it outside any transaction: the refusal's audit row stays."""
    _check_scope_allowed(actor=actor, scope=scope, user=user)
    try:
        return user_reauthenticate(user=actor, password=password, totp=totp, request=request)
    except (ReauthFailed, ReauthTooManyAttempts):
        audit_record(action="kill_switch.release_refused", actor=actor, target=f"kill_switch:{_key(scope, user)}",
                     request=request, details={"scope": scope, "why": "reauthentication failed"})
        raise


def kill_switch_clear(*, scope: str, user: User | None, actor: User, method: str, request=None) -> KillSwitch | None:
    """Release an engaged switch inside the caller's transaction (after `kill_switch_reauthenticate`).

    Returns the switch if this call released it, None if it was not engaged. What that means for bots
    (reduce-only bots trade normally again; halted bots stay halted) is the caller's: see
    trading.execution.safety.kill_switch_release."""
    key = _key(scope, user)
    switch = KillSwitch.objects.select_for_update().filter(key=key).first()
    if switch is None or not switch.engaged:
        return None
    switch.engaged = False
    switch.released_by = actor
    switch.released_at = timezone.now()
    switch.save(update_fields=["engaged", "released_by", "released_at", "updated_at"])
    forget_locked_switches()
    audit_record(action="kill_switch.release", actor=actor, target=f"kill_switch:{key}", request=request,
                 details={"scope": scope, "reauth": method})
    risk_event_record(code="kill_switch_released", severity=RiskEvent.INFO, user=user,
                      message=f"{'Global' if scope == KillSwitch.GLOBAL else 'Your'} kill switch released "
                              f"by {actor.username}. Halted bots stay halted until resumed.",
                      details={"scope": scope, "by": actor.username})
    forget_engaged_cache()
    return switch


def engaged_switches(*, exclude_key: str | None = None):
    """The engaged switch rows (a queryset), e.g. to tell which users another switch still covers."""
    rows = KillSwitch.objects.filter(engaged=True)
    return rows.exclude(key=exclude_key) if exclude_key else rows


# --- policies --------------------------------------------------------------------------------

def policy_tighten(*, actor: User, user: User, bot=None, values: dict, request=None) -> RiskPolicy:
    """Set a user's (or one bot's) override. Every value must be at least as tight as what applies now
    from the levels above (platform, and the user's row for a bot). Blank values inherit."""
    scope = RiskPolicy.BOT if bot is not None else RiskPolicy.USER
    above = [platform_policy()]
    if bot is not None:
        above += list(RiskPolicy.objects.filter(scope=RiskPolicy.USER, user=user))
    bounds = effective_limits(policies=above)
    errors = {}
    for name, value in values.items():
        if name not in LIMIT_FIELDS or value is None:
            continue
        bound = bounds[name]
        if bound is None:
            continue
        looser = value < bound if name in LONGER_IS_TIGHTER else value > bound
        if looser:
            word = "at least" if name in LONGER_IS_TIGHTER else "at most"
            errors[name] = [f"Must be {word} {bound} (the limit that applies above this level)."]
    if errors:
        first = next(iter(errors))
        raise PolicyLoosened(f"{first}: {errors[first][0]} Overrides can only tighten limits.", fields=errors)
    with transaction.atomic():
        lookup = {"scope": scope, "bot": bot} if bot is not None else {"scope": scope, "user": user}
        policy = RiskPolicy.objects.select_for_update().filter(**lookup).first() or RiskPolicy(
            **{"user": user, **lookup})
        for name in LIMIT_FIELDS:
            if name in values:
                setattr(policy, name, values[name])
        policy.updated_by = actor
        policy.save()
        audit_record(action="risk_policy.tighten", actor=actor,
                     target=f"bot:{bot.pk}" if bot is not None else f"user:{user.pk}", request=request,
                     details={k: (None if v is None else str(v)) for k, v in values.items()})
    return policy


# --- the order gate ----------------------------------------------------------------------------

def _cooldown_until_ms(*, bot, limits: Limits) -> int | None:
    """End of the cool-down after the bot's latest breach, in unix ms (None if no cool-down applies)."""
    if not limits.cooldown_minutes:
        return None
    last = (RiskEvent.objects.filter(bot=bot, code__in=BREACH_CODES).order_by("-created_at")
            .values_list("created_at", flat=True).first())
    if last is None:
        return None
    return int(last.timestamp() * 1000) + limits.cooldown_minutes * 60_000


def order_gate(*, bot, proposal: OrderProposal, state: RiskState, limits: Limits | None = None) -> Decision:
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
        halted=state.halted or bot.status == HALTED_STATUS,
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


def _refusal_record(*, bot, proposal: OrderProposal, decision: Decision) -> None:
    """One event per bot and reason per few minutes: a bot refused on every tick must not flood the log."""
    since = timezone.now() - timedelta(seconds=REFUSAL_REPEAT_SECONDS)
    if RiskEvent.objects.filter(bot_id=bot.pk, code=decision.code, created_at__gte=since).exists():
        return
    risk_event_record(code=decision.code, message=f"Order refused: {decision.reason}", bot=bot,
                      severity=RiskEvent.WARNING,
                      details={"side": proposal.side, "amount": str(proposal.amount),
                               "price": None if getattr(proposal, "price", None) is None else str(proposal.price)})
