"""The order state table, walked in full without a database: every (from, to) pair is either allowed or
refused, as a trader and the live venue would expect."""

from decimal import Decimal

import pytest

from trading.execution.states import (
    STATES,
    TERMINAL,
    IllegalTransition,
    allowed,
    check_transition,
    sources_of,
    status_after,
)

# what may follow what, written out by hand (not derived from the code under test)
EXPECTED = {
    "new": {"new", "open", "partially_filled", "filled", "cancelled", "rejected", "unknown"},
    "unknown": {"unknown", "open", "partially_filled", "filled", "cancelled", "rejected"},
    "open": {"open", "partially_filled", "filled", "cancelled"},
    "partially_filled": {"partially_filled", "filled", "cancelled"},
    "filled": {"filled"},
    "cancelled": {"cancelled"},
    "rejected": {"rejected"},
}
PAIRS = [(a, b) for a in EXPECTED for b in EXPECTED]


def test_the_table_knows_exactly_the_seven_states():
    assert set(STATES) == set(EXPECTED)
    assert {"filled", "cancelled", "rejected"} == TERMINAL


@pytest.mark.parametrize(("current", "new"), PAIRS)
def test_every_transition_is_allowed_or_refused_as_expected(current, new):
    assert allowed(current, new) is (new in EXPECTED[current])
    filled = Decimal("1") if new in ("partially_filled", "filled") else Decimal(0)
    if new in EXPECTED[current]:
        check_transition(current, new, filled_before=Decimal(0) if current not in ("partially_filled", "filled")
                         else filled, filled_after=filled if current != "cancelled" else Decimal(0))
    else:
        with pytest.raises(IllegalTransition, match=f"{current} cannot become {new}"):
            check_transition(current, new, filled_before=Decimal(0), filled_after=filled)


def test_nothing_leaves_a_terminal_state():
    for done in TERMINAL:
        for other in set(STATES) - {done}:
            assert not allowed(done, other)


def test_unknown_states_are_refused():
    assert not allowed("open", "settled")
    assert not allowed("bogus", "open")
    with pytest.raises(IllegalTransition):
        check_transition("open", "settled")


def test_the_filled_amount_never_goes_down_nor_changes_on_a_finished_order():
    with pytest.raises(IllegalTransition, match="cannot go down"):
        check_transition("partially_filled", "partially_filled", filled_before=Decimal(2), filled_after=Decimal(1))
    with pytest.raises(IllegalTransition, match="filled order cannot change"):
        check_transition("filled", "filled", filled_before=Decimal(1), filled_after=Decimal(2))
    with pytest.raises(IllegalTransition, match="cancel cannot add fills"):
        check_transition("partially_filled", "cancelled", filled_before=Decimal(1), filled_after=Decimal(2))
    # a cancel keeps what was filled before it
    check_transition("partially_filled", "cancelled", filled_before=Decimal(1), filled_after=Decimal(1))


def test_fills_only_on_states_that_can_carry_them():
    for state in ("open", "rejected", "unknown"):
        with pytest.raises(IllegalTransition, match="with fills cannot be"):
            check_transition("new", state, filled_after=Decimal("0.5"))
    with pytest.raises(IllegalTransition, match="needs a filled amount"):
        check_transition("open", "partially_filled", filled_after=Decimal(0))


def test_a_venue_reporting_open_with_fills_means_partially_filled():
    assert status_after("open", "open", filled_before=Decimal(0), filled_after=Decimal("0.3")) == "partially_filled"
    assert status_after("unknown", "filled", filled_before=Decimal(0), filled_after=Decimal(1)) == "filled"
    with pytest.raises(IllegalTransition):
        status_after("filled", "open", filled_before=Decimal(1), filled_after=Decimal(1))


def test_sources_of_cancelled_are_every_state_that_may_still_be_cancelled():
    assert sources_of("cancelled") == {"new", "unknown", "open", "partially_filled"}
    assert sources_of("new") == set()
