"""Writes for bots: create, edit (while stopped), start, stop, pause, archive. All audited.

Nothing else `.save()`s a Bot except the tick (trading.services.ticks) and risk's halt/resume.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from config.api import DomainError
from exchanges.adapter import exchange_timeframes
from risk.quotas import quota_check
from trading.engine.candles import DEFAULT_TIMEFRAME, TIMEFRAMES
from trading.engine.strategies import STRATEGIES, validate_params
from trading.engine.types import FillConfig, ParamError
from trading.events import bot_event_on_commit
from trading.execution.live_orders import live_orders_cancel, live_orders_unsent_cancel
from trading.execution.routing import is_paper, live_allowed
from trading.execution.safety import bot_resume
from trading.execution.writer import orders_cancel_open
from trading.models import Bot
from trading.services.markets import market_check, markets_ensure
from trading.services.tick_health import start_note


class InvalidBot(DomainError):
    code = "invalid"


class LiveNotAvailable(DomainError):
    code = "live_not_available"


def _live_only_by_promotion(bot: Bot | None = None) -> LiveNotAvailable:
    """The answer to a create or edit that asks for mode=live: the only way live is the promotion."""
    where = (f"its promotion (the Live trading card on the bot page, POST /api/bots/{bot.pk}/promotion/)"
             if bot is not None else "its promotion, once it has a paper record (create it on paper)")
    if settings.ENABLE_LIVE_TRADING:
        message = f"A bot goes live only through {where}."
    else:
        message = f"Live trading is not enabled on this platform; a bot would go live only through {where}."
    return LiveNotAvailable(message, fields={"mode": [message]})


class BotStateConflict(DomainError):
    code = "bot_state_conflict"
    status = 409


class TradingDisabled(DomainError):
    code = "trading_disabled"
    status = 409


EDITABLE_WHILE_RUNNING = {"name"}
AUDIT_ACTIONS = {Bot.Status.RUNNING: "bot.start", Bot.Status.STOPPED: "bot.stop", Bot.Status.PAUSED: "bot.pause"}
EDITABLE_WHILE_STOPPED = {"name", "strategy", "params", "fill_overrides", "timeframe"}


def _timeframe_clean(exchange: str, timeframe) -> str:
    """One of the timeframes a bot can trade on (trading.engine.candles.TIMEFRAMES) that the exchange offers."""
    if timeframe is None or timeframe == "":
        return DEFAULT_TIMEFRAME
    if not isinstance(timeframe, str) or timeframe not in TIMEFRAMES:
        raise InvalidBot(f"Unknown timeframe. Choose one of: {', '.join(TIMEFRAMES)}.",
                         fields={"timeframe": [f"Choose one of: {', '.join(TIMEFRAMES)}."]})
    offered = exchange_timeframes(exchange)
    if offered and timeframe not in offered:
        choices = [tf for tf in TIMEFRAMES if tf in offered]
        raise InvalidBot(f"{exchange} has no {timeframe} candles. Choose one of: {', '.join(choices)}.",
                         fields={"timeframe": [f"{exchange} does not offer {timeframe} candles."]})
    return timeframe


def _params_clean(strategy: str, params) -> dict:
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise InvalidBot(f"Unknown strategy. Choose one of: {', '.join(sorted(STRATEGIES))}.",
                         fields={"strategy": [f"Unknown strategy {strategy!r}."]})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidBot("params must be an object.", fields={"params": ["Must be a JSON object."]})
    try:
        return _json_safe(validate_params(strategy, params))
    except ParamError as exc:
        fields = {f"params.{k}": [v] for k, v in exc.fields.items()}
        first = next(iter(exc.fields.items()), ("params", "invalid"))
        raise InvalidBot(f"params.{first[0]}: {first[1]}", fields=fields) from None


def _overrides_clean(overrides) -> dict:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise InvalidBot('fill_overrides must be an object like {"slippage_min": "0.001"}',
                         fields={"fill_overrides": ["Must be an object."]})
    try:
        FillConfig.from_overrides(overrides)
    except ParamError as exc:
        fields = {f"fill_overrides.{k}": [v] for k, v in exc.fields.items()}
        first = next(iter(exc.fields.items()), ("fill_overrides", "invalid"))
        raise InvalidBot(f"fill_overrides.{first[0]}: {first[1]}", fields=fields) from None
    return _json_safe(dict(overrides))


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def bot_create(*, owner, name: str, exchange: str, symbol: str, strategy: str, starting_balance: Decimal,
               params: dict | None = None, mode: str = Bot.Mode.PAPER, fill_overrides: dict | None = None,
               seed: int | None = None, verify_market: bool = False, request=None,
               timeframe: str = DEFAULT_TIMEFRAME) -> Bot:
    """Create a stopped paper bot. The symbol must be listed (and trading) on the exchange and the
    starting balance at least the market's minimum order value, wherever the exchange's markets are
    known; `verify_market` (pages, API) loads them first if they never were (exchange I/O, before any
    transaction), so an unlisted symbol is never accepted from a person."""
    if mode == Bot.Mode.LIVE:
        raise _live_only_by_promotion()
    if mode != Bot.Mode.PAPER:
        raise InvalidBot("mode must be \"paper\".", fields={"mode": ["Must be \"paper\"."]})
    name = (name or "").strip()
    if not name:
        raise InvalidBot("Give the bot a name.", fields={"name": ["This field may not be blank."]})
    if exchange not in settings.SUPPORTED_EXCHANGES:
        raise InvalidBot(f"Unknown exchange. Supported: {', '.join(settings.SUPPORTED_EXCHANGES)}.",
                         fields={"exchange": ["Unsupported exchange."]})
    if not isinstance(starting_balance, Decimal) or not starting_balance.is_finite() or starting_balance <= 0:
        raise InvalidBot("starting_balance must be greater than 0.",
                         fields={"starting_balance": ["Must be greater than 0."]})
    timeframe = _timeframe_clean(exchange, timeframe)  # no I/O: ccxt knows each exchange's timeframes
    if verify_market:
        markets_ensure(exchange=exchange)
    market_check(exchange=exchange, symbol=symbol, starting_balance=starting_balance)
    clean_params = _params_clean(strategy, params)
    overrides = _overrides_clean(fill_overrides)
    with transaction.atomic():
        # the owner's row serializes concurrent creates, so the quota holds under a burst of requests
        User.objects.select_for_update(no_key=True).filter(pk=owner.pk).first()
        quota_check(user_id=owner.pk, name="bots",
                    used=Bot.objects.filter(owner_id=owner.pk, archived_at__isnull=True).count())
        bot = Bot.objects.create(
            owner=owner, name=name[:100], exchange=exchange, symbol=symbol, strategy=strategy, params=clean_params,
            timeframe=timeframe,
            mode=mode, starting_balance=starting_balance, fill_overrides=overrides,
            seed=seed if seed is not None else secrets.randbelow(2**31), quote=starting_balance,
        )
        audit_record(action="bot.create", actor=owner, target=f"bot:{bot.pk}", request=request,
                     details={"strategy": strategy, "exchange": exchange, "symbol": symbol, "mode": mode,
                              "timeframe": timeframe})
    return bot


def _running_quota_check(*, owner_id: int, bot_id: int) -> None:
    """Inside the start's transaction: the owner's row lock orders concurrent starts of their bots."""
    User.objects.select_for_update(no_key=True).filter(pk=owner_id).first()
    running = Bot.objects.filter(owner_id=owner_id, status=Bot.Status.RUNNING, archived_at__isnull=True).exclude(
        pk=bot_id).count()
    quota_check(user_id=owner_id, name="running_bots", used=running)


def _locked(bot: Bot) -> Bot:
    return Bot.objects.select_for_update(no_key=True).get(pk=bot.pk)


def _refresh_into(target: Bot, source: Bot) -> Bot:
    target.__dict__.update({k: v for k, v in source.__dict__.items() if not k.startswith("_")})
    return target


def bot_update(*, bot: Bot, actor, request=None, **fields) -> Bot:
    mode = fields.pop("mode", None)
    if mode == Bot.Mode.LIVE and bot.mode != Bot.Mode.LIVE:  # never silently ignored (the create refuses it too)
        raise _live_only_by_promotion(bot)
    if mode is not None and mode != bot.mode:
        raise InvalidBot(f"mode cannot be changed here (the bot is {bot.mode}).",
                         fields={"mode": ["Cannot be changed here."]})
    unknown = set(fields) - EDITABLE_WHILE_STOPPED
    if unknown:
        raise InvalidBot(f"These cannot be changed: {', '.join(sorted(unknown))}.",
                         fields={k: ["Cannot be changed after creation."] for k in sorted(unknown)})
    with transaction.atomic():
        locked = _locked(bot)
        if locked.archived_at:
            raise BotStateConflict("This bot is archived.")
        if set(fields) - EDITABLE_WHILE_RUNNING and locked.status != Bot.Status.STOPPED:
            raise BotStateConflict("Stop the bot before changing its strategy, parameters, timeframe or fill settings.")
        changed = []
        if "name" in fields:
            name = (fields["name"] or "").strip()
            if not name:
                raise InvalidBot("Give the bot a name.", fields={"name": ["This field may not be blank."]})
            locked.name = name[:100]
            changed.append("name")
        if "strategy" in fields or "params" in fields:
            strategy = fields.get("strategy", locked.strategy)
            params = fields.get("params", locked.params if strategy == locked.strategy else {})
            locked.params = _params_clean(strategy, params)
            if strategy != locked.strategy or locked.params != bot.params:
                # a strategy's memory belongs to its old settings; the risk counters (day-start and peak
                # equity, orders today) stay, so editing a bot never resets its loss limits
                risk = (locked.state or {}).get("risk")
                locked.state = {"risk": risk} if risk else {}
            locked.strategy = strategy
            changed += ["strategy", "params", "state"]
        if "timeframe" in fields:
            timeframe = _timeframe_clean(locked.exchange, fields["timeframe"])
            if timeframe != locked.timeframe:
                # the strategy's memory (last evaluated candle, indicators' history) was on the old candles
                risk = (locked.state or {}).get("risk")
                locked.state = {"risk": risk} if risk else {}
                locked.timeframe = timeframe
                changed += ["timeframe", "state"]
        if "fill_overrides" in fields:
            locked.fill_overrides = _overrides_clean(fields["fill_overrides"])
            changed.append("fill_overrides")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            audit_record(action="bot.update", actor=actor, target=f"bot:{locked.pk}", request=request,
                         details={"fields": sorted(set(fields))})
            bot_event_on_commit(bot=locked)
    return _refresh_into(bot, locked)


def _transition(*, bot: Bot, actor, request, to: str, allowed_from: set[str], action: str,
                cancel_orders: bool = False, note: str = "") -> Bot:
    with transaction.atomic():
        locked = _locked(bot)
        if locked.archived_at:
            raise BotStateConflict("This bot is archived.")
        if locked.status == to:
            return _refresh_into(bot, locked)
        if locked.status not in allowed_from:
            raise BotStateConflict(f"A {locked.status} bot cannot be {action}.")
        if to == Bot.Status.RUNNING:
            _running_quota_check(owner_id=locked.owner_id, bot_id=locked.pk)
        now = timezone.now()
        update = ["status", "updated_at"]
        locked.status = to
        if to == Bot.Status.RUNNING:
            locked.halt_reason = ""
            locked.started_at = now
            locked.last_tick_note = note  # what the first tick would say (start_note), shown at once
            update += ["halt_reason", "started_at", "last_tick_note"]
        if to == Bot.Status.STOPPED:
            locked.stopped_at = now
            update.append("stopped_at")
        live_cancel = cancel_orders and not is_paper(locked)
        if cancel_orders and not live_cancel:
            orders_cancel_open(bot=locked, reason=f"bot {action}", locked=True)
        elif live_cancel:  # on the exchange, after this commit (no I/O inside the transaction)
            live_orders_unsent_cancel(bot_ids=[locked.pk], reason=f"bot {action}")
        locked.save(update_fields=update)
        audit_record(action=AUDIT_ACTIONS[to], actor=actor, target=f"bot:{locked.pk}", request=request, details={"status": to})
        bot_event_on_commit(bot=locked)
    if live_cancel:
        live_orders_cancel(bot=locked, reason=f"bot {action}")
    return _refresh_into(bot, locked)


def bot_start(*, bot: Bot, actor, request=None) -> Bot:
    if not settings.ENABLE_TRADING:
        raise TradingDisabled("Trading is switched off on this platform (ENABLE_TRADING=false).")
    if not is_paper(bot) and not (gate := live_allowed(bot)).allowed:
        raise LiveNotAvailable(f"This bot cannot trade live: {gate.reason}.")
    current = Bot.objects.only("status", "archived_at").get(pk=bot.pk)
    if current.status == Bot.Status.HALTED and not current.archived_at:
        # a halted bot resumes through safety (refused while a kill switch covers it; recorded as a risk event)
        with transaction.atomic():
            _running_quota_check(owner_id=bot.owner_id, bot_id=bot.pk)
        return _refresh_into(bot, bot_resume(bot=bot, actor=actor, request=request))
    note = start_note(bot=bot) if is_paper(bot) else ""  # before the transaction: reads Redis and candles
    return _transition(bot=bot, actor=actor, request=request, to=Bot.Status.RUNNING, action="started",
                       allowed_from={Bot.Status.STOPPED, Bot.Status.PAUSED, Bot.Status.HALTED}, note=note)


def bot_stop(*, bot: Bot, actor, request=None) -> Bot:
    """Stop: open orders are cancelled and their reserved funds released."""
    return _transition(bot=bot, actor=actor, request=request, to=Bot.Status.STOPPED, action="stopped",
                       allowed_from={Bot.Status.RUNNING, Bot.Status.PAUSED, Bot.Status.HALTED}, cancel_orders=True)


def bot_pause(*, bot: Bot, actor, request=None) -> Bot:
    """Pause: the strategy is not evaluated and nothing fills; open orders stay until resumed or stopped."""
    return _transition(bot=bot, actor=actor, request=request, to=Bot.Status.PAUSED, action="paused",
                       allowed_from={Bot.Status.RUNNING})


def bot_archive(*, bot: Bot, actor, request=None) -> Bot:
    """Delete = archive: stop, cancel open orders, hide from lists; orders, fills and equity are kept."""
    with transaction.atomic():
        locked = _locked(bot)
        if locked.archived_at:
            return _refresh_into(bot, locked)
        now = timezone.now()
        live = not is_paper(locked)
        if live:  # on the exchange, after this commit
            live_orders_unsent_cancel(bot_ids=[locked.pk], reason="bot archived")
        else:
            orders_cancel_open(bot=locked, reason="bot archived", locked=True)
        if locked.status != Bot.Status.STOPPED:
            locked.stopped_at = now
        locked.status = Bot.Status.STOPPED
        locked.archived_at = now
        locked.save(update_fields=["status", "stopped_at", "archived_at", "updated_at"])
        audit_record(action="bot.archive", actor=actor, target=f"bot:{locked.pk}", request=request)
        bot_event_on_commit(bot=locked)
    if live:
        live_orders_cancel(bot=locked, reason="bot archived")
    return _refresh_into(bot, locked)
