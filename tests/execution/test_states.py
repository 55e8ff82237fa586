"""The order state table: every pair of states, allowed and refused, without a database."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import product

import pytest

from trading.execution.states import (
    LIVE,
    STATES,
    TERMINAL,
    IllegalTransition,
    InconsistentReport,
    OrderProgress,
    OrderStateError,
    apply_report,
    is_terminal,
    transition_allowed,
)

# The table as a user of the platform expects it, written out independently of the module.
EXPECTED = {
    ("new", "open"), ("new", "partially_filled"), ("new", "filled"), ("new", "cancelled"), ("new", "rejected"),
    ("new", "unknown"),
    ("unknown", "unknown"), ("unknown", "open"), ("unknown", "partially_filled"), ("unknown", "filled"),
    ("unknown", "cancelled"), ("unknown", "rejected"),
    ("open", "open"), ("open", "partially_filled"), ("open", "filled"), ("open", "cancelled"),
    ("partially_filled", "partially_filled"), ("partially_filled", "filled"), ("partially_filled", "cancelled"),
    ("filled", "filled"), ("cancelled", "cancelled"), ("rejected", "rejected"),
}
AMOUNT = D("2")
# what each state has filled (of AMOUNT) when it is the current state
HAVE = {"new": D(0), "unknown": D(0), "open": D(0), "partially_filled": D("0.5"), "filled": AMOUNT,
        "cancelled": D("0.5"), "rejected": D(0)}


def _reported_filled(current: str, new: str) -> D:
    """A cumulative filled amount that is consistent for the transition, so only the table decides."""
    have = HAVE[current]
    if new == "partially_filled":
        return have + D("0.5")
    if new == "filled":
        return AMOUNT
    if new == "cancelled":
        return have
    return D(0)  # open, rejected, unknown, new: nothing filled


ALL_PAIRS = list(product(STATES, STATES))


def test_the_table_has_seven_states_and_three_terminal_ones():
    assert set(STATES) == {"new", "open", "partially_filled", "filled", "cancelled", "rejected", "unknown"}
    assert frozenset({"filled", "cancelled", "rejected"}) == TERMINAL
    assert frozenset({"new", "open", "partially_filled", "unknown"}) == LIVE
    assert [s for s in STATES if is_terminal(s)] == ["filled", "cancelled", "rejected"]


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_transition_is_allowed_or_refused_as_the_table_says(current, new):
    allowed = (current, new) in EXPECTED
    assert transition_allowed(current, new) is allowed
    report = OrderProgress(new, _reported_filled(current, new))
    if allowed:
        after = apply_report(OrderProgress(current, HAVE[current]), report, amount=AMOUNT)
        assert (after.status, after.filled) == (new, report.filled)
        assert after.changed is ((current, HAVE[current]) != (new, report.filled))
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {new}") as err:
            apply_report(OrderProgress(current, HAVE[current]), report, amount=AMOUNT)
        assert err.value.code == "illegal_order_transition"
        assert (err.value.current, err.value.reported) == (current, new)


def test_a_filled_order_reported_open_again_is_a_clear_error():
    with pytest.raises(IllegalTransition, match="an order cannot go from filled to open"):
        apply_report(OrderProgress("filled", AMOUNT), OrderProgress("open", D(0)), amount=AMOUNT)


def test_nothing_goes_back_to_new_a_venue_never_reports_it():
    assert not any(transition_allowed(s, "new") for s in STATES)


def test_a_terminal_order_repeated_by_the_venue_changes_nothing():
    for state in TERMINAL:
        after = apply_report(OrderProgress(state, HAVE[state]), OrderProgress(state, HAVE[state]), amount=AMOUNT)
        assert after == OrderProgress(state, HAVE[state], changed=False)


def test_an_open_report_with_a_fill_is_a_partial_fill_as_ccxt_reports_it():
    after = apply_report(OrderProgress("open", D(0)), OrderProgress("open", D("0.3")), amount=AMOUNT)
    assert after == OrderProgress("partially_filled", D("0.3"), changed=True)


def test_more_fills_on_a_partially_filled_order_are_applied():
    after = apply_report(OrderProgress("partially_filled", D("0.3")),
                         OrderProgress("partially_filled", D("0.8")), amount=AMOUNT)
    assert after == OrderProgress("partially_filled", D("0.8"), changed=True)


def test_an_unknown_order_resolved_by_a_lookup_takes_the_venues_state():
    after = apply_report(OrderProgress("unknown", D(0)), OrderProgress("filled", AMOUNT), amount=AMOUNT)
    assert after.status == "filled" and after.filled == AMOUNT


@pytest.mark.parametrize(("current", "report", "message"), [
    (("partially_filled", "0.8"), ("partially_filled", "0.3"), "filled went down from 0.8 to 0.3"),
    (("partially_filled", "0.8"), ("cancelled", "0.3"), "filled went down"),
    (("open", "0"), ("partially_filled", "-1"), "filled went down"),
    (("open", "0"), ("partially_filled", "2.5"), "more than the order's amount 2"),
    (("open", "0"), ("filled", "0"), "a filled order has filled nothing"),
    (("new", "0"), ("rejected", "1"), "a rejected order has filled nothing, not 1"),
    (("new", "0"), ("unknown", "1"), "a unknown order has filled nothing"),
    (("cancelled", "0.5"), ("cancelled", "0.7"), "a cancelled order cannot change its filled amount"),
    (("filled", "2"), ("filled", "1.5"), "filled went down"),
])
def test_a_report_that_contradicts_what_the_order_has_filled_is_refused(current, report, message):
    with pytest.raises(InconsistentReport, match=message) as err:
        apply_report(OrderProgress(current[0], D(current[1])), OrderProgress(report[0], D(report[1])),
                     amount=AMOUNT)
    assert err.value.code == "inconsistent_order_report"


def test_states_outside_the_table_are_refused_by_name():
    with pytest.raises(IllegalTransition, match="unknown reported order state 'canceled'"):
        apply_report(OrderProgress("open", D(0)), OrderProgress("canceled", D(0)))
    with pytest.raises(IllegalTransition, match="unknown order state 'closed'"):
        apply_report(OrderProgress("closed", D(0)), OrderProgress("filled", D(1)))
    assert not transition_allowed("closed", "filled")


def test_without_a_known_amount_a_market_order_may_fill_any_positive_amount():
    after = apply_report(OrderProgress("new", D(0)), OrderProgress("filled", D("0.123")))
    assert after.status == "filled" and after.filled == D("0.123")


def test_errors_are_value_errors_with_a_stable_code():
    assert issubclass(OrderStateError, ValueError)
    assert IllegalTransition.code != InconsistentReport.code
