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


# --- at the market's precision (trading.formatting) ------------------------------------------

from trading.formatting import currency_places, fixed, market_format_for, places_of, trimmed  # noqa: E402


@pytest.mark.parametrize("step, places", [("0.01", 2), ("0.00001", 5), ("0.5", 1), ("1", 0), ("10", 0),
                                          ("1E-8", 8), (None, None), ("0", None), ("-1", None)])
def test_a_step_gives_its_decimals(step, places):
    assert places_of(step) == places


def test_money_decimals_follow_the_quote_currency():
    assert (currency_places("USDT"), currency_places("eur"), currency_places("BTC"), currency_places("ETH")) == (
        2, 2, 8, 8)


def test_a_market_format_shows_price_amount_and_money_at_its_precision():
    btc = market_format_for("BTC/USDT", price_step="0.01", amount_step="0.00001")
    assert btc.price(Decimal("65000.014999")) == "65000.01"
    assert btc.amount(Decimal("0.076923076923076923")) == "0.07692"
    assert btc.money(Decimal("4995.00499498675668")) == "4,995.00"
    eth_btc = market_format_for("ETH/BTC", price_step="0.00001", amount_step="0.0001")
    assert eth_btc.money(Decimal("0.123456789")) == "0.12345679" and eth_btc.money_places == 8
    unknown = market_format_for("FOO/BAR")
    assert unknown.price(Decimal("3000.000000000000000000")) == "3000"
    assert unknown.amount(Decimal("0E-18")) == "0"


def test_nothing_is_shown_in_exponent_notation_or_as_minus_zero():
    assert trimmed(Decimal("0E-18")) == "0" and trimmed(Decimal("1E+3")) == "1000"
    assert fixed(Decimal("-0.001"), 2) == "0.00" and fixed(Decimal("1E+3"), 2) == "1000.00"
    assert fixed(None, 2) == "—" and trimmed("abc") == "—"
