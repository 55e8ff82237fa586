"""risk.checks: each pre-trade rule with its reason code, the breakers, and a property test that no
sequence of orders gets a bot past its limits. Plain Python, no database."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from risk.checks import (
    CODES,
    Decision,
    Limits,
    OrderProposal,
    RiskState,
    check_breakers,
    check_order,
    daily_loss_pct,
    drawdown_pct,
)

D = Decimal
NOW = 1_700_000_000_000
NONE = Limits(max_trades_per_day=None, daily_loss_pct=None)  # no limits at all


def state(**kw) -> RiskState:
    values = {"equity": D("1000"), "day_start_equity": D("1000"), "peak_equity": D("1000"), "now_ms": NOW,
              "position_base": D("0")}
    values.update(kw)
    return RiskState(**values)


def buy(amount="1", price="100"):
    return OrderProposal("buy", D(amount), D(price))


def sell(amount="1", price="100", **kw):
    return OrderProposal("sell", D(amount), D(price), **kw)


HOLDING = {"position_base": D("2"), "position_value": D("200")}


def test_a_calm_bot_may_trade():
    d = check_order(buy(), state(), Limits())
    assert d.allowed and d.code == "ok"


def test_defaults_are_50_trades_a_day_and_a_5_percent_daily_loss_breaker():
    assert Limits().max_trades_per_day == 50 and Limits().daily_loss_pct == D("5")


def test_the_kill_switch_refuses_everything_but_a_reduce_only_bots_exits():
    d = check_order(buy(), state(kill_switch=True), NONE)
    assert (d.allowed, d.code) == (False, "kill_switch") and "kill switch" in d.message
    assert check_order(sell(), state(kill_switch=True, **HOLDING), NONE).code == "kill_switch"
    assert check_order(sell(), state(kill_switch=True, reduce_only=True, **HOLDING), NONE).allowed
    assert check_order(buy(), state(kill_switch=True, reduce_only=True), NONE).code == "kill_switch"


def test_a_halted_bot_places_nothing_except_emergency_flatten_orders():
    assert check_order(buy(), state(halted=True), NONE).code == "halted"
    assert check_order(sell(), state(halted=True, **HOLDING), NONE).code == "halted"
    assert check_order(sell(emergency=True), state(halted=True, **HOLDING), NONE).allowed
    assert check_order(OrderProposal("buy", D("1"), D("1"), emergency=True), state(halted=True), NONE).code == "halted"


def test_reduce_only_allows_exits_and_refuses_entries():
    d = check_order(buy(), state(reduce_only=True), NONE)
    assert d.code == "reduce_only" and "entries are refused" in d.message
    assert check_order(sell(), state(reduce_only=True, **HOLDING), NONE).allowed
    # selling more than is held is not an exit
    assert check_order(sell("3"), state(reduce_only=True, **HOLDING), NONE).code == "reduce_only"
    assert check_order(sell("3", reduces_position=True), state(reduce_only=True), NONE).allowed


def test_the_order_rate_limit_counts_the_last_minute():
    limits = Limits(max_orders_per_minute=5, max_trades_per_day=None, daily_loss_pct=None)
    assert check_order(buy(), state(orders_last_minute=4), limits).allowed
    d = check_order(buy(), state(orders_last_minute=5), limits)
    assert d.code == "order_rate" and "5 orders in the last minute" in d.message
    assert check_order(sell(), state(orders_last_minute=5, **HOLDING), limits).code == "order_rate"


def test_a_cooldown_refuses_entries_until_it_ends():
    d = check_order(buy(), state(cooldown_until_ms=NOW + 90_000), NONE)
    assert d.code == "cooldown" and "in 2 min" in d.message
    assert check_order(buy(), state(cooldown_until_ms=NOW), NONE).allowed
    assert check_order(sell(), state(cooldown_until_ms=NOW + 90_000, **HOLDING), NONE).allowed


def test_the_daily_loss_breaker_refuses_entries_at_the_threshold():
    limits = Limits(daily_loss_pct=D("5"))
    assert check_order(buy(), state(equity=D("950.01")), limits).allowed
    d = check_order(buy(), state(equity=D("950")), limits)
    assert d.code == "daily_loss" and "5.00%" in d.message
    assert check_order(sell(), state(equity=D("900"), **HOLDING), limits).allowed  # exits stay open


def test_the_drawdown_breaker_measures_from_peak_equity():
    limits = Limits(max_drawdown_pct=D("10"), daily_loss_pct=None)
    st_ = state(equity=D("1080"), day_start_equity=D("1080"), peak_equity=D("1200"))
    assert drawdown_pct(st_) == D("10")
    d = check_order(buy(), st_, limits)
    assert d.code == "max_drawdown" and "10.00%" in d.message
    assert check_order(buy(), state(equity=D("1081"), peak_equity=D("1200")), limits).allowed


def test_the_daily_trade_limit():
    limits = Limits(max_trades_per_day=50, daily_loss_pct=None)
    assert check_order(buy(), state(trades_today=49), limits).allowed
    d = check_order(buy(), state(trades_today=50), limits)
    assert d.code == "max_trades_per_day" and "50 trades today" in d.message
    assert check_order(sell(), state(trades_today=50, **HOLDING), limits).allowed


def test_the_open_trades_limit():
    limits = Limits(max_open_trades=2, max_trades_per_day=None, daily_loss_pct=None)
    assert check_order(buy(), state(open_trades=1), limits).allowed
    assert check_order(buy(), state(open_trades=2), limits).code == "max_open_trades"


def test_the_position_limit_in_quote_counts_what_is_held_plus_the_order():
    limits = Limits(max_position_quote=D("500"), max_trades_per_day=None, daily_loss_pct=None)
    assert check_order(buy("3"), state(**HOLDING), limits).allowed  # 200 + 300 = 500
    d = check_order(buy("3.01"), state(**HOLDING), limits)
    assert d.code == "max_position" and "500" in d.message


def test_the_position_limit_as_percent_of_equity():
    limits = Limits(max_position_pct=D("25"), max_trades_per_day=None, daily_loss_pct=None)
    assert check_order(buy("2.5"), state(), limits).allowed
    d = check_order(buy("2.6"), state(), limits)
    assert d.code == "max_position" and "26.00% of equity" in d.message
    assert check_order(buy("0.1"), state(equity=D("0"), day_start_equity=D("0")), limits).code == "max_position"


def test_refusal_messages_show_money_at_the_quote_currencys_decimals_and_limits_without_padding():
    """The issue's "Position would be 4995.00499498675668 in quote": money at the quote currency's decimals (the
    caller knows them), else at most 8 decimals trimmed; a limit read from the database (18 decimal places) is
    never shown padded or in exponent notation."""
    limits = Limits(max_position_quote=D("50.000000000000000000"), max_trades_per_day=None, daily_loss_pct=None)
    order = OrderProposal("buy", D("0.0768461538461538"), D("65000.014999999"), money_places=2)
    d = check_order(order, state(), limits)
    assert d.message == "Position would be 4995.00 in quote, above the limit of 50.00"
    d = check_order(OrderProposal("buy", D("1.000000000000000001"), D("99.900099900006")), state(), limits)
    assert d.message == "Position would be 99.9000999 in quote, above the limit of 50"
    pct = Limits(max_position_pct=D("25.000"), daily_loss_pct=D("5.000"), max_drawdown_pct=D("12.500"),
                 max_trades_per_day=None)
    assert check_order(buy("2.6"), state(), pct).message.endswith("above the limit of 25%")
    fallen = state(equity=D("900"), day_start_equity=D("1000"), peak_equity=D("1100"))
    assert "reached the limit of 5% of the day's" in check_breakers(fallen, pct).message
    drawdown = Limits(max_drawdown_pct=D("12.500"), daily_loss_pct=None, max_trades_per_day=None)
    assert check_breakers(state(equity=D("900"), peak_equity=D("1100")), drawdown).message.endswith("limit of 12.5%")
    for message in (d.message, check_order(buy("2.6"), state(), pct).message):
        assert "E-" not in message and "E+" not in message and "000000" not in message


def test_every_reason_code_is_reachable():
    seen = {
        check_order(buy(), state(kill_switch=True), NONE).code,
        check_order(buy(), state(halted=True), NONE).code,
        check_order(buy(), state(orders_last_minute=1), Limits(max_orders_per_minute=1)).code,
        check_order(buy(), state(reduce_only=True), NONE).code,
        check_order(buy(), state(cooldown_until_ms=NOW + 1), NONE).code,
        check_order(buy(), state(equity=D("900")), Limits()).code,
        check_order(buy(), state(peak_equity=D("2000")), Limits(max_drawdown_pct=D("20"))).code,
        check_order(buy(), state(trades_today=50), Limits()).code,
        check_order(buy(), state(open_trades=1), Limits(max_open_trades=1)).code,
        check_order(buy(), state(), Limits(max_position_quote=D("1"))).code,
    }
    assert seen == set(CODES)


def test_breakers_report_the_breach_or_allow():
    assert check_breakers(state(), Limits()).allowed
    d = check_breakers(state(equity=D("940")), Limits())
    assert (d.allowed, d.code) == (False, "daily_loss") and daily_loss_pct(state(equity=D("940"))) == D("6")
    d = check_breakers(state(equity=D("990"), peak_equity=D("1300")), Limits(max_drawdown_pct=D("20")))
    assert d.code == "max_drawdown"
    assert check_breakers(state(equity=D("1")), NONE).allowed


def test_decision_reason_and_message_are_the_same_text():
    assert Decision(False, "x", reason="why").message == "why"
    assert Decision(False, "x", message="why").reason == "why"


# --- property: no sequence of orders gets past the limits ---------------------------------------------

limit_sets = st.builds(
    Limits,
    max_position_quote=st.one_of(st.none(), st.decimals(min_value=D("50"), max_value=D("2000"), places=2)),
    max_position_pct=st.one_of(st.none(), st.decimals(min_value=D("5"), max_value=D("100"), places=1)),
    max_open_trades=st.one_of(st.none(), st.integers(1, 5)),
    max_trades_per_day=st.one_of(st.none(), st.integers(1, 20)),
    daily_loss_pct=st.one_of(st.none(), st.decimals(min_value=D("1"), max_value=D("20"), places=1)),
    max_drawdown_pct=st.one_of(st.none(), st.decimals(min_value=D("1"), max_value=D("30"), places=1)),
    max_orders_per_minute=st.one_of(st.none(), st.integers(1, 10)),
)
events = st.lists(st.tuples(st.sampled_from(["buy", "sell"]),
                            st.decimals(min_value=D("0.01"), max_value=D("10"), places=2),
                            st.decimals(min_value=D("50"), max_value=D("150"), places=2),
                            st.integers(0, 40_000)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(limit_sets, events)
def test_no_sequence_of_fills_lets_a_bot_exceed_its_limits(limits, seq):
    quote, base, now = D("1000"), D("0"), NOW
    day_start = peak = D("1000")
    trades_today, open_trades, recent = 0, 0, []
    day = now // 86_400_000
    for side, amount, price, gap_ms in seq:
        now += gap_ms
        if now // 86_400_000 != day:
            day, trades_today = now // 86_400_000, 0
            day_start = quote + base * price
        eq = quote + base * price
        peak = max(peak, eq)
        recent = [t for t in recent if t > now - 60_000]
        rs = RiskState(equity=eq, day_start_equity=day_start, peak_equity=peak, position_value=base * price,
                       open_trades=open_trades, trades_today=trades_today, orders_last_minute=len(recent),
                       now_ms=now, position_base=base)
        proposal = OrderProposal(side, amount, price)
        decision = check_order(proposal, rs, limits)
        if not decision.allowed:
            assert decision.code in CODES
            continue
        if side == "buy" and amount * price > quote:
            continue  # the wallet would refuse it; not the risk layer's business
        if side == "sell" and amount > base:
            continue
        entry = side == "buy"
        # the order was allowed: the bot's limits must still hold right after it fills
        if limits.max_orders_per_minute is not None:
            assert len(recent) + 1 <= limits.max_orders_per_minute
        if entry:
            assert limits.max_trades_per_day is None or trades_today + 1 <= limits.max_trades_per_day
            assert limits.max_open_trades is None or open_trades + 1 <= limits.max_open_trades
            after_value = (base + amount) * price
            assert limits.max_position_quote is None or after_value <= limits.max_position_quote
            assert limits.max_position_pct is None or after_value <= eq * limits.max_position_pct / 100
            assert limits.daily_loss_pct is None or (day_start - eq) / day_start * 100 < limits.daily_loss_pct
            assert limits.max_drawdown_pct is None or (peak - eq) / peak * 100 < limits.max_drawdown_pct
            quote -= amount * price
            base += amount
            open_trades += 1
        else:
            quote += amount * price
            base -= amount
            if base == 0:
                open_trades = 0
        trades_today += 1
        recent.append(now)



def test_risk_names_the_halted_status_as_trading_does():
    from risk.services import HALTED_STATUS
    from trading.models import Bot

    assert HALTED_STATUS == Bot.Status.HALTED
