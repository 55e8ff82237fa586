"""The order state machine as a pure table. No Django: strings and Decimals in, a new state out.

    from -> to       open  partially_filled  filled  cancelled  rejected  unknown
    new               x     x                 x       x          x         x
    unknown           x     x                 x       x          x         x (still unknown)
    open              x     x                 x       x
    partially_filled        x (more fills)    x       x (the rest)
    filled / cancelled / rejected: only a repeat of the same state (terminal)

- `new`: created by us, not yet answered by the venue (never a venue's report: its "NEW" is our `open`).
- `unknown`: the venue's answer was lost (e.g. a submit that timed out). The order may or may not be on
  the exchange: it must be looked up by its client order id, NEVER sent again.
- `filled`, `cancelled`, `rejected` are terminal. A repeated report of the same state is accepted and
  changes nothing (reconciliation reads the same order many times); anything else out of a terminal
  state is an error.
- Cumulative filled never goes down, never exceeds the amount, and a rejected order filled nothing.

`apply_report(current, report)` takes anything with `status` and `filled` (an Order row, a VenueOrder),
so the order writer applies what a venue says through this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

OrderStatus = Literal["new", "open", "partially_filled", "filled", "cancelled", "rejected", "unknown"]

NEW: OrderStatus = "new"
OPEN: OrderStatus = "open"
PARTIALLY_FILLED: OrderStatus = "partially_filled"
FILLED: OrderStatus = "filled"
CANCELLED: OrderStatus = "cancelled"
REJECTED: OrderStatus = "rejected"
UNKNOWN: OrderStatus = "unknown"

STATES: tuple[OrderStatus, ...] = (NEW, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, UNKNOWN)
TERMINAL: frozenset[str] = frozenset({FILLED, CANCELLED, REJECTED})
# may still fill: they hold funds, count against limits and are cancelled by an emergency stop
LIVE: frozenset[str] = frozenset({NEW, OPEN, PARTIALLY_FILLED, UNKNOWN})

TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, UNKNOWN}),
    UNKNOWN: frozenset({UNKNOWN, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED}),
    OPEN: frozenset({OPEN, PARTIALLY_FILLED, FILLED, CANCELLED}),
    PARTIALLY_FILLED: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED}),
    FILLED: frozenset({FILLED}),
    CANCELLED: frozenset({CANCELLED}),
    REJECTED: frozenset({REJECTED}),
}

ZERO = Decimal("0")


class OrderStateError(ValueError):
    """A venue report that the table refuses. `code` is stable (the API/writer maps it to its errors)."""

    code = "order_state_error"

    def __init__(self, message: str, *, current: str, reported: str):
        self.current, self.reported = current, reported
        super().__init__(message)


class IllegalTransition(OrderStateError):
    code = "illegal_order_transition"


class InconsistentReport(OrderStateError):
    code = "inconsistent_order_report"


class HasProgress(Protocol):
    status: str
    filled: Decimal


@dataclass(frozen=True)
class OrderProgress:
    status: OrderStatus
    filled: Decimal = ZERO
    changed: bool = False  # whether applying the report changed status or filled


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def transition_allowed(current: str, new: str) -> bool:
    """Whether an order in state `current` may go to `new` (unknown states: never)."""
    return new in TRANSITIONS.get(current, ())


def apply_report(current: HasProgress, report: HasProgress, *, amount: Decimal | None = None) -> OrderProgress:
    """The order's state after a venue report (status + CUMULATIVE filled base), or OrderStateError.

    A report of `open` with something filled is `partially_filled` (ccxt reports Binance's
    PARTIALLY_FILLED as "open" with `filled` > 0). `amount` (the order's base amount, None when unknown,
    e.g. a market buy by quote) bounds the filled amount.
    """
    status, filled = current.status, current.filled or ZERO
    new, new_filled = report.status, report.filled if report.filled is not None else ZERO
    if new == OPEN and new_filled > 0:
        new = PARTIALLY_FILLED
    if status not in TRANSITIONS:
        raise IllegalTransition(f"unknown order state {status!r}", current=status, reported=new)
    if new not in TRANSITIONS:
        raise IllegalTransition(f"unknown reported order state {new!r} (states: {', '.join(STATES)})",
                                current=status, reported=new)
    if not transition_allowed(status, new):
        raise IllegalTransition(f"an order cannot go from {status} to {new}", current=status, reported=new)
    if new_filled < 0 or new_filled < filled:
        raise InconsistentReport(f"filled went down from {filled} to {new_filled} ({status} -> {new})",
                                 current=status, reported=new)
    if status in TERMINAL and new_filled != filled:
        raise InconsistentReport(f"a {status} order cannot change its filled amount ({filled} -> {new_filled})",
                                 current=status, reported=new)
    if amount is not None and new_filled > amount:
        raise InconsistentReport(f"filled {new_filled} is more than the order's amount {amount}",
                                 current=status, reported=new)
    if new == PARTIALLY_FILLED and new_filled <= 0:
        raise InconsistentReport("a partially filled order has filled nothing", current=status, reported=new)
    if new == FILLED and new_filled <= 0:
        # (not "== amount": an exchange closes a market order that ran out of book liquidity as filled)
        raise InconsistentReport("a filled order has filled nothing", current=status, reported=new)
    if new in (REJECTED, UNKNOWN, NEW) and new_filled > 0:
        raise InconsistentReport(f"a {new} order has filled nothing, not {new_filled}", current=status,
                                 reported=new)
    return OrderProgress(status=new, filled=new_filled, changed=(new, new_filled) != (status, filled))
