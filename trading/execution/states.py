"""The order state machine as a pure table: which status may follow which. No Django.

    new ──> open ──> partially_filled ──> filled
     │  \\     \\            │  \\
     │   \\     └──────────> cancelled (what was filled stays filled)
     │    └──> rejected
     └──> unknown ──> (any state the venue then reports)

* new: decided and written, not yet acknowledged by a venue;
* unknown: a submit whose outcome we do not know (a timeout, a dropped connection): it is looked
  up at the venue by its client order id, never sent again;
* filled, cancelled, rejected are terminal: nothing moves an order out of them.

The filled amount never goes down, and only `partially_filled` and `filled` may carry fills
(a cancelled order may keep what was filled before it was cancelled).
"""

from __future__ import annotations

from decimal import Decimal

NEW, OPEN, PARTIALLY_FILLED, FILLED = "new", "open", "partially_filled", "filled"
CANCELLED, REJECTED, UNKNOWN = "cancelled", "rejected", "unknown"

STATES = (NEW, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, UNKNOWN)
TERMINAL = frozenset({FILLED, CANCELLED, REJECTED})
OPEN_STATES = frozenset({NEW, OPEN, PARTIALLY_FILLED, UNKNOWN})  # may still trade on the venue

# status -> the statuses it may move to (staying put is always allowed: a repeated report)
TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, UNKNOWN}),
    UNKNOWN: frozenset({OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED}),
    OPEN: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED}),
    PARTIALLY_FILLED: frozenset({FILLED, CANCELLED}),
    FILLED: frozenset(),
    CANCELLED: frozenset(),
    REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    """A status change the table does not allow (e.g. a filled order reported open again)."""


def allowed(current: str, new: str) -> bool:
    """Whether an order in `current` may move to `new` (staying in the same state is allowed)."""
    if current not in TRANSITIONS or new not in TRANSITIONS:
        return False
    return new == current or new in TRANSITIONS[current]


def sources_of(new: str) -> frozenset[str]:
    """Every status from which an order may move to `new` (for set-based writes such as a bulk cancel)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)


def check_transition(current: str, new: str, *, filled_before: Decimal = Decimal(0),
                     filled_after: Decimal = Decimal(0)) -> None:
    """Raise IllegalTransition unless `current` -> `new` with that cumulative filled amount is legal."""
    if not allowed(current, new):
        raise IllegalTransition(f"an order that is {current} cannot become {new}")
    if new == current and current in TERMINAL and filled_after != filled_before:
        raise IllegalTransition(f"a {current} order cannot change its filled amount")
    if filled_after < filled_before:
        raise IllegalTransition(f"the filled amount cannot go down ({filled_before} -> {filled_after})")
    if filled_after > 0 and new in (NEW, OPEN, REJECTED, UNKNOWN):
        raise IllegalTransition(f"an order with fills cannot be {new}")
    if new == PARTIALLY_FILLED and filled_after <= 0:
        raise IllegalTransition("a partially filled order needs a filled amount")
    if new == CANCELLED and filled_after != filled_before:
        raise IllegalTransition("a cancel cannot add fills: report the fills first")


def status_after(current: str, reported: str, *, filled_before: Decimal, filled_after: Decimal) -> str:
    """The status to record for what a venue reports: as reported once the table allows it.

    A venue that reports `open` with some amount filled means partially filled."""
    new = PARTIALLY_FILLED if reported == OPEN and filled_after > 0 else reported
    check_transition(current, new, filled_before=filled_before, filled_after=filled_after)
    return new
