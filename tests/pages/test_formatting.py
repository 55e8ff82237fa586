"""How the trading pages print numbers: exact Decimal rounding (half to even), no '-0.00', a dash for none."""

from decimal import Decimal

import pytest

from trading.templatetags.trading_format import money, num, pnl_class, signed


@pytest.mark.parametrize("value, places, shown", [
    ("97.634307177405011676", 8, "97.63430718"),
    ("100.050000000000000000", 8, "100.05"),
    ("0.000000025", 8, "0.00000002"),
    ("9.999999999", 8, "10"),
    ("-0.000000001", 8, "0"),
    (None, 8, "—"),
])
def test_num_rounds_on_the_digits_and_drops_trailing_zeros(value, places, shown):
    assert num(value, places) == shown


@pytest.mark.parametrize("value, shown_money, shown_signed, css", [
    (Decimal("1040.5"), "1,040.50", "+1,040.50", "ok"),
    ("-1234567.125", "-1,234,567.12", "-1,234,567.12", "bad"),
    ("-0.001", "0.00", "0.00", "bad"),
    ("0", "0.00", "0.00", ""),
    (None, "—", "—", ""),
])
def test_money_and_signed(value, shown_money, shown_signed, css):
    assert money(value) == shown_money
    assert signed(value) == shown_signed
    assert pnl_class(value) == css
