"""Pre-trade risk checks and circuit breakers in plain Python: shared by paper, backtest and live.

No Django. The caller builds a `RiskState` snapshot (equity, position, counters, flags), the
effective `Limits` (None = no limit) and an `OrderProposal`; `check_order` says allowed or not with
a reason code. Orders that only reduce the position (exits) stay allowed through the breakers, the
trade-count limits, cooldown and reduce-only mode so a bot can always get out; the kill switch
stops exits too unless the bot was set reduce-only, and a halted bot places nothing (its
emergency "flatten" orders set `emergency=True`).

Reason codes, in the order they are checked:
  kill_switch, halted, order_rate, reduce_only, cooldown, daily_loss, max_drawdown,
  max_trades_per_day, max_open_trades, max_position (quote value, then % of equity).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Context, Decimal

HUNDRED = Decimal("100")
ZERO = Decimal("0")

BREACH_CODES = ("daily_loss", "max_drawdown", "user_daily_loss")  # a bot halts on these (circuit breakers)
CODES = ("kill_switch", "halted", "order_rate", "reduce_only", "cooldown", "daily_loss", "max_drawdown",
         "max_trades_per_day", "max_open_trades", "max_position")


@dataclass(frozen=True)
class Limits:
    """Effective limits for one bot; None = no limit."""

    max_position_quote: Decimal | None = None
    max_position_pct: Decimal | None = None  # of current equity
    max_open_trades: int | None = None
    max_trades_per_day: int | None = 50
    daily_loss_pct: Decimal | None = Decimal("5")  # of the day's starting equity
    max_drawdown_pct: Decimal | None = None  # from peak equity
    max_orders_per_minute: int | None = None
    cooldown_minutes: int | None = None  # no new entries this long after a breach
    user_daily_loss_pct: Decimal | None = None  # all of a user's bots together (the risk monitor checks it)


# THE list of limit names: policy rows, the API, pages and admin all take it from here.
LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Limits))
LONGER_IS_TIGHTER = frozenset({"cooldown_minutes"})  # for every other limit a smaller value is tighter


@dataclass(frozen=True)
class RiskState:
    """A snapshot of one bot (and its owner's switches) at order time."""

    equity: Decimal
    day_start_equity: Decimal
    peak_equity: Decimal
    position_value: Decimal = ZERO  # quote value of the open position at the current price
    open_trades: int = 0
    trades_today: int = 0  # orders placed (filled or resting) since the day started, this bot
    orders_last_minute: int = 0
    halted: bool = False
    reduce_only: bool = False
    kill_switch: bool = False
    cooldown_until_ms: int | None = None
    now_ms: int = 0
    position_base: Decimal | None = None  # base held; lets a sell be recognised as an exit


@dataclass(frozen=True)
class OrderProposal:
    side: str  # "buy" | "sell"
    amount: Decimal  # base
    price: Decimal  # expected price (quote per base)
    reduces_position: bool = False  # an exit: spot long-only, a sell of at most what is held
    emergency: bool = False  # a "halt and flatten" exit issued by the emergency stop
    money_places: int | None = None  # the quote currency's decimals, for the messages (None: at most 8)

    @property
    def value(self) -> Decimal:
        return self.amount * self.price


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str = "ok"
    message: str = ""
    reason: str = ""  # alias of message (either may be given)

    def __post_init__(self):
        if self.message and not self.reason:
            object.__setattr__(self, "reason", self.message)
        elif self.reason and not self.message:
            object.__setattr__(self, "message", self.reason)


ALLOWED = Decision(True, "ok", "allowed")


def _refuse(code: str, message: str) -> Decision:
    return Decision(False, code, message)


def _pct(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}%"


_WIDE = Context(prec=80)


def _money(value: Decimal, places: int | None) -> str:
    """Money in a message: at the quote currency's decimals when the caller knows them ("99.90"), else at most
    8 decimals with the trailing zeros dropped ("50", never "50.000000000000000000" or an exponent)."""
    q = value.quantize(Decimal(1).scaleb(-(8 if places is None else places)), context=_WIDE)
    return f"{q:f}" if places is not None else f"{q.normalize(context=_WIDE):f}"


def is_exit(proposal: OrderProposal, state: RiskState) -> bool:
    if proposal.reduces_position:
        return True
    return proposal.side == "sell" and state.position_base is not None and proposal.amount <= state.position_base


def daily_loss_pct(state: RiskState) -> Decimal:
    if state.day_start_equity <= 0:
        return ZERO
    return (state.day_start_equity - state.equity) / state.day_start_equity * HUNDRED


def drawdown_pct(state: RiskState) -> Decimal:
    if state.peak_equity <= 0:
        return ZERO
    return (state.peak_equity - state.equity) / state.peak_equity * HUNDRED


def check_breakers(state: RiskState, limits: Limits) -> Decision:
    """Daily loss / drawdown: a breach means the bot must halt (the caller halts and cancels)."""
    if limits.daily_loss_pct is not None:
        loss = daily_loss_pct(state)
        if loss >= limits.daily_loss_pct:
            return _refuse("daily_loss", f"Daily loss {_pct(loss)} reached the limit of "
                                         f"{_money(limits.daily_loss_pct, None)}% of the day's starting equity")
    if limits.max_drawdown_pct is not None:
        dd = drawdown_pct(state)
        if dd >= limits.max_drawdown_pct:
            return _refuse("max_drawdown", f"Drawdown {_pct(dd)} from peak equity reached the limit of "
                                           f"{_money(limits.max_drawdown_pct, None)}%")
    return ALLOWED


def check_order(proposal: OrderProposal, state: RiskState, limits: Limits) -> Decision:
    """Allow or refuse one order, with the first broken rule's reason code and a readable message."""
    exit_ = is_exit(proposal, state)
    if state.kill_switch and not (exit_ and (state.reduce_only or proposal.emergency)):
        return _refuse("kill_switch", "The kill switch is engaged: no new orders"
                       + (" (this bot may only reduce its position)" if state.reduce_only else ""))
    if state.halted and not (exit_ and proposal.emergency):
        return _refuse("halted", "The bot is halted: a person must resume it before it trades again")
    if limits.max_orders_per_minute is not None and not proposal.emergency \
            and state.orders_last_minute >= limits.max_orders_per_minute:
        return _refuse("order_rate", f"Order rate limit: {state.orders_last_minute} orders in the last minute "
                                     f"(max {limits.max_orders_per_minute})")
    if exit_:
        return ALLOWED
    if state.reduce_only:
        return _refuse("reduce_only", "The bot is reduce-only: exits are allowed, entries are refused")
    if state.cooldown_until_ms is not None and state.now_ms < state.cooldown_until_ms:
        minutes = -(-(state.cooldown_until_ms - state.now_ms) // 60_000)
        return _refuse("cooldown", f"Cooling down after a risk breach: new entries allowed again in {minutes} min")
    breach = check_breakers(state, limits)
    if not breach.allowed:
        return breach
    if limits.max_trades_per_day is not None and state.trades_today >= limits.max_trades_per_day:
        return _refuse("max_trades_per_day", f"Daily trade limit reached: {state.trades_today} trades today "
                                             f"(max {limits.max_trades_per_day})")
    if limits.max_open_trades is not None and state.open_trades >= limits.max_open_trades:
        return _refuse("max_open_trades", f"Open trade limit reached: {state.open_trades} open "
                                          f"(max {limits.max_open_trades})")
    after = state.position_value + proposal.value
    if limits.max_position_quote is not None and after > limits.max_position_quote:
        places = proposal.money_places
        return _refuse("max_position", f"Position would be {_money(after, places)} in quote, above the limit of "
                                       f"{_money(limits.max_position_quote, places)}")
    if limits.max_position_pct is not None:
        if state.equity <= 0:
            return _refuse("max_position", "Position size limit: equity is zero")
        pct = after / state.equity * HUNDRED
        if pct > limits.max_position_pct:
            return _refuse("max_position", f"Position would be {_pct(pct)} of equity, above the limit of "
                                           f"{_money(limits.max_position_pct, None)}%")
    return ALLOWED


# --- the one risk-state builder (paper tick, risk monitor; the backtest keeps the same memory) -----

def _day_of(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def memory_advance(state: dict, *, now_ms: int, equity: Decimal) -> dict:
    """The bot's risk memory in its strategy state (`state["risk"]`), moved on to `now_ms`: the day's
    starting equity and trade count reset at UTC midnight, the order count each minute; the peak rises
    with equity. Mutates and returns the memory (a dict of JSON-safe strings and ints)."""
    mem = state.setdefault("risk", {})
    day = _day_of(now_ms)
    if mem.get("day") != day:
        mem.update(day=day, day_start_equity=str(equity), trades_today=0)
    peak = Decimal(mem.get("peak_equity") or equity)
    mem["peak_equity"] = str(max(peak, equity))
    minute = now_ms // 60_000
    if mem.get("minute") != minute:
        mem.update(minute=minute, orders_minute=0)
    return mem


def memory_count_order(mem: dict) -> None:
    """An order the gate allowed counts towards today's trades and this minute's orders."""
    mem["trades_today"] = mem.get("trades_today", 0) + 1
    mem["orders_minute"] = mem.get("orders_minute", 0) + 1


def state_build(mem: dict, *, equity: Decimal, base: Decimal, price: Decimal, now_ms: int,
                free_base: Decimal | None = None, open_orders: int = 0, reduce_only: bool = False,
                cooldown_until_ms: int | None = None, memory_ms: int | None = None) -> RiskState:
    """A RiskState from a bot's risk memory and its wallet at `price`.

    `now_ms` is the wall clock (cool-downs end in wall-clock time); `memory_ms` the market time the memory
    was advanced to (a replay runs on recorded time; default: `now_ms`). A memory from another day than
    `memory_ms` (or none) counts as a fresh day starting at `equity`."""
    at = now_ms if memory_ms is None else memory_ms
    same_day = mem.get("day") == _day_of(at) and mem.get("day_start_equity") is not None
    same_minute = same_day and mem.get("minute") == at // 60_000
    peak = Decimal(mem.get("peak_equity") or equity)
    return RiskState(equity=equity, day_start_equity=Decimal(mem["day_start_equity"]) if same_day else equity,
                     peak_equity=max(peak, equity), position_value=base * price,
                     open_trades=open_orders + (1 if base > 0 else 0),
                     trades_today=mem.get("trades_today", 0) if same_day else 0,
                     orders_last_minute=mem.get("orders_minute", 0) if same_minute else 0,
                     reduce_only=reduce_only, now_ms=now_ms, position_base=base if free_base is None else free_base,
                     cooldown_until_ms=cooldown_until_ms)
