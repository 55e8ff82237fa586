"""Writes for the promotion workflow: request -> confirm -> (staff approve | reject) -> activate -> demote.

Every step is audited (accounts.audit.audit_record) and raises a `promotion` notification with a link
to the bot. `promotion_activate` is the only function that ever sets a bot's mode to live; direct mode
changes stay refused in trading.services.bots. Going back to paper is in trading/promotion/demotion.py.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.services import totp_verify
from config.api import DomainError
from exchanges.adapter import client_for, fetch_balance
from keys.services import key_credentials
from notifications.services import notify, notify_operator
from risk.limits import limits_for
from trading.events import bot_event_on_commit
from trading.execution.routing import live_trading_enabled
from trading.execution.writer import orders_cancel_open
from trading.models import Bot, Fill
from trading.promotion.eligibility import paper_days
from trading.promotion.models import PromotionRequest
from trading.promotion.selectors import (
    criteria_json,
    promotion_eligibility,
    promotion_key_for,
    promotion_policy,
)

log = logging.getLogger(__name__)

CONFIRM_PHRASE = "I UNDERSTAND"
APPROVE_PERMISSION = "risk.approve_promotion"


class PromotionInvalid(DomainError):
    code = "invalid"


class LiveDisabled(DomainError):
    code = "live_disabled"
    status = 403


class NotEligible(DomainError):
    code = "not_eligible"
    status = 409


class PromotionConflict(DomainError):
    code = "promotion_conflict"
    status = 409


class PromotionExpired(DomainError):
    code = "promotion_expired"
    status = 409


class ConfirmationWrong(DomainError):
    code = "confirmation_wrong"

    def __init__(self, message: str, *, attempts_left: int, **kwargs):
        super().__init__(message, **kwargs)
        self.attempts_left = attempts_left


class PromotionForbidden(DomainError):
    code = "forbidden"
    status = 403


class AllocationTooLarge(DomainError):
    code = "allocation_exceeds_balance"


class TooManyBalanceChecks(DomainError):
    code = "throttled"
    status = 429


# --- helpers ---------------------------------------------------------------------------------

def _bot_path(bot: Bot) -> str:
    return f"/bots/{bot.pk}/"


def _notify(*, promotion: PromotionRequest, bot: Bot, title: str, text: str, severity: str = "info") -> None:
    notify(user=bot.owner, event="promotion", severity=severity, title=title, text=text,
           url_path=_bot_path(bot), bot=bot, dedupe_key=f"promotion:{promotion.pk}:{promotion.status}")


def _audit(*, action: str, actor, promotion: PromotionRequest, request=None, **details) -> None:
    audit_record(action=action, actor=actor, target=f"bot:{promotion.bot_id}", request=request,
                 details={"promotion": promotion.pk, "status": promotion.status, **details})


def _live_required() -> None:
    if not live_trading_enabled():
        raise LiveDisabled("Live trading is switched off on this platform (ENABLE_LIVE_TRADING=false).")


def _str(value) -> str | None:
    """Decimals as plain strings without trailing zeros (5.000000 -> "5"), for the frozen snapshot."""
    if value is None:
        return None
    if isinstance(value, Decimal) and value.is_finite():
        text = format(value.normalize(), "f")
        return "0" if text == "-0" else text
    return str(value)


def _quote_of(bot: Bot) -> str:
    return bot.symbol.partition("/")[2].split(":")[0]


def _allocation_clean(value) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        raise PromotionInvalid("allocation must be a number greater than 0.",
                               fields={"allocation": ["Must be greater than 0."]})
    if amount.as_tuple().exponent < -18 or amount.adjusted() >= 20:
        raise PromotionInvalid("allocation has too many digits.", fields={"allocation": ["Too many digits."]})
    return amount


def _expired(promotion: PromotionRequest, now) -> bool:
    return promotion.status in PromotionRequest.PENDING_STATUSES and promotion.expires_at <= now


def _expire_locked(promotion: PromotionRequest, *, now) -> None:
    promotion.status = PromotionRequest.Status.EXPIRED
    promotion.ended_at = now
    promotion.ended_reason = "not confirmed in time" if promotion.confirmed_at is None else "not decided in time"
    promotion.save(update_fields=["status", "ended_at", "ended_reason", "updated_at"])
    _audit(action="promotion.expire", actor=None, promotion=promotion)
    _notify(promotion=promotion, bot=promotion.bot, title=f"Promotion of “{promotion.bot.name}” expired",
            text=f"The request to trade live was {promotion.ended_reason}; the bot stays on paper.")


def _balance_check_allow(user) -> None:
    """At most PROMOTION_BALANCE_CHECKS_PER_HOUR private balance reads per user and hour: a loop of requests
    must not get the user's key rate-limited or banned by the exchange."""
    limit = settings.PROMOTION_BALANCE_CHECKS_PER_HOUR
    key = f"promotion-balance-checks:{user.pk}"
    if cache.add(key, 1, timeout=3600):
        return
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=3600)
        return
    if count > limit:
        raise TooManyBalanceChecks(f"Too many promotion requests: at most {limit} an hour reach the exchange. "
                                   f"Try again later.")


def _balance_free(*, key, currency: str) -> Decimal:
    """The key's free balance of `currency` on its exchange (one private call through the adapter)."""
    client = client_for(key.exchange, key_credentials(key=key), sandbox=key.sandbox)
    balance = fetch_balance(client)
    raw = (balance.get("free") or {}).get(currency)
    try:
        return Decimal(str(raw)) if raw is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _stats_snapshot(*, record, perf: dict, eligibility) -> dict:
    return {"paper_days": str(paper_days(record).quantize(Decimal("0.1"))),
            "paper_since": record.paper_since.isoformat() if record.paper_since else None,
            "closed_trades": record.closed_trades, "win_rate_pct": _str(record.win_rate_pct),
            "profit_pct": _str(record.profit_pct), "equity": _str(perf.get("equity")),
            "starting_balance": _str(perf.get("starting_balance")),
            "max_drawdown_pct": _str(perf.get("max_drawdown_pct")), "fees_paid": _str(perf.get("fees_paid")),
            "breaker_halts": record.breaker_halts, "criteria": criteria_json(eligibility),
            "taken_at": record.now.isoformat()}


def _limits_snapshot(bot: Bot) -> dict:
    return {k: _str(v) for k, v in asdict(limits_for(bot=bot)).items()}


def _failing_fields(eligibility) -> dict:
    return {c.id: [f"{c.label}: required {c.required}, actual {c.actual}."] for c in eligibility.failing}


# --- request -----------------------------------------------------------------------------------

def promotion_request(*, bot: Bot, actor, allocation, request=None) -> PromotionRequest:
    """Ask to take the bot live with `allocation` (quote currency, at most the key's free balance)."""
    amount = _allocation_clean(allocation)
    _live_required()
    if bot.mode == Bot.Mode.LIVE:
        raise PromotionConflict("This bot is already live.")
    open_one = PromotionRequest.objects.filter(bot=bot, status__in=PromotionRequest.OPEN_STATUSES).first()
    if open_one is not None:
        if _expired(open_one, timezone.now()):
            with transaction.atomic():
                _expire_locked(PromotionRequest.objects.select_for_update(of=("self",)).select_related("bot__owner")
                               .get(pk=open_one.pk), now=timezone.now())
        else:
            raise PromotionConflict("This bot already has a promotion request in progress.")
    eligibility, record, perf = promotion_eligibility(bot=bot)
    if not eligibility.eligible:
        names = "; ".join(f"{c.label} (required {c.required}, actual {c.actual})" for c in eligibility.failing)
        raise NotEligible(f"Not eligible for live trading yet: {names}.", fields=_failing_fields(eligibility))
    key = promotion_key_for(bot)
    quote = _quote_of(bot)
    _balance_check_allow(actor)
    free = _balance_free(key=key, currency=quote)  # outside any transaction: it is a network call
    if amount > free:
        raise AllocationTooLarge(f"The allocation is more than the {free.normalize():f} {quote} free on "
                                 f"{bot.exchange} with the key “{key.label}”.",
                                 fields={"allocation": [f"At most {free.normalize():f} {quote}."]})
    policy = promotion_policy()
    now = timezone.now()
    try:
        with transaction.atomic():
            _lock_bot(bot.pk)
            promotion = PromotionRequest.objects.create(
                bot=bot, requested_by=actor, allocation=amount, quote_currency=quote, key=key,
                stats={**_stats_snapshot(record=record, perf=perf, eligibility=eligibility),
                       "exchange_free_balance": str(free)},
                limits=_limits_snapshot(bot), require_approval=policy.require_staff_approval,
                expires_at=now + timedelta(hours=policy.request_ttl_hours))
            _audit(action="promotion.request", actor=actor, promotion=promotion, request=request,
                   allocation=str(amount), key=key.pk)
            _notify(promotion=promotion, bot=bot, title=f"Promotion of “{bot.name}” requested",
                    text=f"Live allocation {amount.normalize():f} {quote} with the key “{key.label}”. Confirm "
                         f"it on the bot page within {policy.request_ttl_hours} h.")
    except IntegrityError:
        raise PromotionConflict("This bot already has a promotion request in progress.") from None
    return promotion


# --- confirm -----------------------------------------------------------------------------------

def _locked_pending(bot: Bot) -> PromotionRequest | None:
    return (PromotionRequest.objects.select_for_update(of=("self",)).select_related("bot__owner")
            .filter(bot=bot, status__in=PromotionRequest.PENDING_STATUSES).first())


def promotion_confirm(*, bot: Bot, actor, phrase: str | None = None, totp: str | None = None,
                      request=None) -> PromotionRequest:
    """The second confirmation: the exact phrase, or a TOTP code when the owner has TOTP on."""
    now = timezone.now()
    wrong: ConfirmationWrong | None = None
    with transaction.atomic():
        promotion = _locked_pending(bot)
        if promotion is None:
            latest = PromotionRequest.objects.filter(bot=bot).order_by("-created_at", "-id").first()
            if latest is not None and latest.status == PromotionRequest.Status.EXPIRED:
                raise PromotionExpired("This promotion request has expired; request again.")
            raise PromotionConflict("There is no promotion request waiting for confirmation."
                                    if latest is None or latest.status != PromotionRequest.Status.APPROVED
                                    else "This bot is already live.")
        if promotion.status != PromotionRequest.Status.PENDING_CONFIRMATION:
            raise PromotionConflict("This promotion request is already confirmed.")
        if _expired(promotion, now):
            _expire_locked(promotion, now=now)
            expired = True
        else:
            expired = False
        if not expired:
            _live_required()
            use_totp = bool(actor.totp_enabled)
            if use_totp and not totp:
                raise PromotionInvalid("Two-factor authentication is on for your account: enter the 6-digit code.",
                                       fields={"totp": ["Required: TOTP is on for your account."]})
            if not use_totp and phrase is None:
                hint = " (TOTP is not on for your account)" if totp else ""
                raise PromotionInvalid(f"Type the phrase “{CONFIRM_PHRASE}” to confirm{hint}.",
                                       fields={"phrase": ["Required."]})
            ok = totp_verify(user=actor, code=str(totp), request=request) if use_totp else phrase == CONFIRM_PHRASE
            field_name = "totp" if use_totp else "phrase"
            if not ok:
                promotion.attempts += 1
                left = promotion.attempts_left
                update = ["attempts", "updated_at"]
                if left == 0:
                    promotion.status = PromotionRequest.Status.CANCELLED
                    promotion.ended_at, promotion.ended_reason = now, "too many wrong confirmations"
                    update += ["status", "ended_at", "ended_reason"]
                promotion.save(update_fields=update)
                _audit(action="promotion.confirm_failed", actor=actor, promotion=promotion, request=request,
                       attempts=promotion.attempts, method=field_name)
                what = "code" if use_totp else "phrase"
                if left == 0:
                    _notify(promotion=promotion, bot=bot, title=f"Promotion of “{bot.name}” cancelled",
                            text="Five wrong confirmations: the request is cancelled and the bot stays on paper.",
                            severity="warning")
                    msg = f"Wrong {what}. No attempts left: the request is cancelled."
                else:
                    msg = f"Wrong {what}. {left} attempt{'s' if left != 1 else ''} left."
                wrong = ConfirmationWrong(msg, attempts_left=left, fields={field_name: [msg]})
            else:
                promotion.confirmed_at, promotion.confirmed_with = now, field_name
                update = ["confirmed_at", "confirmed_with", "updated_at"]
                if promotion.require_approval:
                    promotion.status = PromotionRequest.Status.PENDING_APPROVAL
                    promotion.expires_at = now + timedelta(hours=promotion_policy().request_ttl_hours)
                    update += ["status", "expires_at"]
                promotion.save(update_fields=update)
                _audit(action="promotion.confirm", actor=actor, promotion=promotion, request=request,
                       method=field_name)
                if promotion.require_approval:
                    _notify(promotion=promotion, bot=bot, title=f"Promotion of “{bot.name}” confirmed",
                            text="Waiting for a staff member to approve it.")
                    _notify_staff(promotion=promotion, bot=bot)
    if expired:
        raise PromotionExpired("This promotion request has expired; request again.")
    if wrong is not None:
        raise wrong
    if not promotion.require_approval:
        return promotion_activate(promotion=promotion, actor=actor, request=request)
    return promotion


def _notify_staff(*, promotion: PromotionRequest, bot: Bot) -> None:
    notify_operator(event="promotion", severity="info", title=f"Promotion #{promotion.pk} waits for approval",
                    text=f"{bot.owner} asks to take “{bot.name}” ({bot.exchange} {bot.symbol}) live with "
                         f"{promotion.allocation.normalize():f} {promotion.quote_currency}.",
                    url_path=f"/admin/trading/promotionrequest/{promotion.pk}/change/",
                    dedupe_key=f"promotion:{promotion.pk}:staff")


# --- staff decision ----------------------------------------------------------------------------

def can_approve_promotions(user) -> bool:
    return bool(user and user.is_active and user.is_staff and user.has_perm(APPROVE_PERMISSION))


def _decision_check(*, promotion: PromotionRequest, actor) -> None:
    if not can_approve_promotions(actor):
        raise PromotionForbidden("Only staff with the approve-promotion permission decide promotions.")
    if actor.pk in (promotion.requested_by_id, promotion.bot.owner_id):
        raise PromotionForbidden("Nobody decides on their own promotion request.")


def _lock_bot(bot_id: int) -> Bot:
    """Lock order everywhere: the bot row, then its promotion request."""
    return Bot.objects.select_for_update(no_key=True, of=("self",)).select_related("owner").get(pk=bot_id)


def _locked_request(promotion: PromotionRequest) -> PromotionRequest:
    return (PromotionRequest.objects.select_for_update(of=("self",)).select_related("bot__owner", "key")
            .get(pk=promotion.pk))


def promotion_approve(*, promotion: PromotionRequest, actor, note: str = "", request=None) -> PromotionRequest:
    _decision_check(promotion=promotion, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        locked = _locked_request(promotion)
        expired = _expired(locked, now)
        if expired:
            _expire_locked(locked, now=now)
        elif locked.status != PromotionRequest.Status.PENDING_APPROVAL:
            raise PromotionConflict(f"This request is {locked.get_status_display()}, not waiting for approval.")
    if expired:
        raise PromotionExpired("This promotion request has expired.")
    _live_required()
    eligibility, _record, _perf = promotion_eligibility(bot=locked.bot)
    if not eligibility.eligible:
        raise NotEligible("The bot is no longer eligible: "
                          + "; ".join(f"{c.label} (actual {c.actual})" for c in eligibility.failing) + ".",
                          fields=_failing_fields(eligibility))
    with transaction.atomic():
        _lock_bot(promotion.bot_id)
        locked = _locked_request(promotion)
        if locked.status != PromotionRequest.Status.PENDING_APPROVAL:
            raise PromotionConflict(f"This request is {locked.get_status_display()}, not waiting for approval.")
        locked.decided_by, locked.decided_at, locked.note = actor, now, (note or "")[:500]
        locked.save(update_fields=["decided_by", "decided_at", "note", "updated_at"])
        _audit(action="promotion.approve", actor=actor, promotion=locked, request=request, note=locked.note)
        return _refresh(promotion, promotion_activate(promotion=locked, actor=actor, request=request))


def promotion_reject(*, promotion: PromotionRequest, actor, note: str = "", request=None) -> PromotionRequest:
    _decision_check(promotion=promotion, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        locked = _locked_request(promotion)
        if locked.status not in PromotionRequest.PENDING_STATUSES:
            raise PromotionConflict(f"This request is {locked.get_status_display()}, not waiting for a decision.")
        locked.status = PromotionRequest.Status.REJECTED
        locked.decided_by, locked.decided_at, locked.note = actor, now, (note or "")[:500]
        locked.ended_at, locked.ended_reason = now, "rejected by staff"
        locked.save(update_fields=["status", "decided_by", "decided_at", "note", "ended_at", "ended_reason",
                                   "updated_at"])
        _audit(action="promotion.reject", actor=actor, promotion=locked, request=request, note=locked.note)
        _notify(promotion=locked, bot=locked.bot, title=f"Promotion of “{locked.bot.name}” rejected",
                text="A staff member rejected the request; the bot stays on paper."
                     + (f" Note: {locked.note}" if locked.note else ""), severity="warning")
    return _refresh(promotion, locked)


def _refresh(target: PromotionRequest, source: PromotionRequest) -> PromotionRequest:
    target.__dict__.update({k: v for k, v in source.__dict__.items() if not k.startswith("_")})
    target._state.fields_cache = dict(source._state.fields_cache)
    return target


# --- the switch ----------------------------------------------------------------------------------

def _live_allowed(bot: Bot) -> bool:
    """The operator's switch, read where every live decision reads it (trading.execution.routing); once the
    bot is live, routing.live_allowed(bot) gates every order on this same switch and the approved request."""
    return live_trading_enabled()


def promotion_activate(*, promotion: PromotionRequest, actor, request=None) -> PromotionRequest:
    """THE switch to live: the only code that sets `Bot.mode = live`.

    Needs a confirmed request (and a staff decision when the request requires one) and live trading on.
    Open paper orders are cancelled; the bot keeps its status (a running bot goes on running, live).
    """
    with transaction.atomic():
        bot = _lock_bot(promotion.bot_id)  # locks: the bot first, then its request (as demotion does)
        locked = _locked_request(promotion)
        if not _live_allowed(bot):
            raise LiveDisabled("Live trading is switched off on this platform (ENABLE_LIVE_TRADING=false).")
        ready = (locked.status in PromotionRequest.PENDING_STATUSES and locked.confirmed_at is not None
                 and (not locked.require_approval or locked.decided_by_id is not None))
        if not ready:
            raise PromotionConflict("This request is not confirmed and approved.")
        if bot.archived_at:
            raise PromotionConflict("This bot is archived.")
        key = locked.key
        if key is None or not key.is_active or key.last_test_ok is not True:
            raise PromotionConflict("The exchange key of this request is gone, disabled or failing its test; "
                                    "request again with a working key.")
        orders_cancel_open(bot=bot, reason="promoted to live", locked=True)
        now = timezone.now()
        bot.mode = Bot.Mode.LIVE
        # the live wallet is the allocation (real money on the exchange), not the paper wallet; the risk memory
        # starts again from it and the strategy sees only live fills from here on
        bot.base, bot.quote, bot.base_reserved, bot.quote_reserved = Decimal(0), locked.allocation, 0, 0
        last_fill = Fill.objects.filter(bot=bot).order_by("-pk").values_list("pk", flat=True).first() or 0
        state = {k: v for k, v in (bot.state or {}).items() if k != "risk"}
        state["live"] = {"promotion": locked.pk, "fill_id": last_fill}
        bot.state = state
        bot.save(update_fields=["mode", "base", "quote", "base_reserved", "quote_reserved", "state", "updated_at"])
        locked.status, locked.activated_at = PromotionRequest.Status.APPROVED, now
        locked.save(update_fields=["status", "activated_at", "updated_at"])
        _audit(action="promotion.activate", actor=actor, promotion=locked, request=request,
               allocation=str(locked.allocation))
        _notify(promotion=locked, bot=bot, title=f"“{bot.name}” is LIVE",
                text=f"It now trades real money on {bot.exchange}: allocation "
                     f"{locked.allocation.normalize():f} {locked.quote_currency}. Back to paper at any time on "
                     f"the bot page.", severity="warning")
        bot_event_on_commit(bot=bot)
    return _refresh(promotion, locked)


def promotions_expire_due(*, now=None) -> int:
    """Mark every pending request past its deadline expired (the staff list and beat call this)."""
    now = now or timezone.now()
    count = 0
    for pk in PromotionRequest.objects.filter(status__in=PromotionRequest.PENDING_STATUSES,
                                              expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            row = PromotionRequest.objects.select_for_update(of=("self",)).select_related("bot__owner").get(pk=pk)
            if _expired(row, now):
                _expire_locked(row, now=now)
                count += 1
    return count


# --- the platform policy -------------------------------------------------------------------------

def promotion_policy_save(*, policy, actor, request=None):
    """Staff edit the platform promotion policy (admin): validated, saved, audited with the new values."""
    policy.full_clean()
    policy.updated_by = actor
    policy.save()
    audit_record(action="promotion.policy_update", actor=actor, target="promotion_policy", request=request,
                 details={f: _str(getattr(policy, f)) for f in ("min_paper_days", "min_closed_trades",
                                                                 "min_win_rate_pct", "min_profit_pct",
                                                                 "require_staff_approval", "request_ttl_hours")})
    return policy
