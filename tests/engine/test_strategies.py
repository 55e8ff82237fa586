"""The strategy registry: ids, parameter schemas and validation messages, and each strategy's decisions."""

from decimal import Decimal

import pytest

from tests.engine.factories import T0, bars_from_closes
from trading.engine.strategies import (
    STRATEGIES,
    ParamError,
    get_strategy,
    strategies_describe,
    validate_params,
)
from trading.engine.strategies.base import StrategyContext
from trading.engine.strategies.rsi import rsi
from trading.engine.types import Fill, MarketRules, RestingOrder, Wallet

D = Decimal


def ctx(closes, *, wallet=None, avg=None, open_orders=(), state=None, fills=(), rules=None):
    bars = bars_from_closes(closes)
    return StrategyContext(closed_bars=bars, now_ms=bars[-1].ts_ms, wallet=wallet or Wallet(quote=D("1000")),
                           position_avg_price=avg, open_orders=tuple(open_orders), last_price=bars[-1].close,
                           state={} if state is None else state, rules=rules or MarketRules(), fills=tuple(fills))


# --- registry and schemas -----------------------------------------------------------------------

def test_the_registry_has_the_four_strategies_with_the_api_parameter_names():
    assert {k: list(v.params_schema) for k, v in STRATEGIES.items()} == {
        "sma_cross": ["fast", "slow", "size_pct", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct"],
        "rsi": ["period", "oversold", "overbought", "size_pct", "stop_loss_pct", "take_profit_pct",
                "trailing_stop_pct"],
        "grid": ["lower", "upper", "levels", "order_amount"],
        "dca": ["interval_minutes", "order_amount", "take_profit_pct", "safety_step_pct", "safety_volume_scale",
                "safety_max_count"],
    }


def test_describe_lists_each_parameter_with_type_bounds_default_and_description():
    described = {s["id"]: s for s in strategies_describe()}
    size = next(p for p in described["sma_cross"]["params"] if p["name"] == "size_pct")
    assert size["type"] == "decimal" and size["default"] == "100" and size["max"] == "100" and not size["required"]
    assert size["description"]
    lower = next(p for p in described["grid"]["params"] if p["name"] == "lower")
    assert lower["required"] and "default" not in lower
    for s in described.values():
        assert s["name"] and s["description"]
        for p in s["params"]:
            assert p["type"] in ("int", "decimal") and p["description"]


def test_defaults_are_filled_in_and_decimals_come_back_as_json_safe_strings():
    off = {"stop_loss_pct": "0", "take_profit_pct": "0", "trailing_stop_pct": "0"}
    assert validate_params("sma_cross", {}) == {"fast": 10, "slow": 30, "size_pct": "100", **off}
    assert validate_params("rsi", {"oversold": 25.5}) == {"period": 14, "oversold": "25.5", "overbought": "70",
                                                          "size_pct": "100", **off}
    assert validate_params("grid", {"lower": "100", "upper": 200, "order_amount": "10.50"})["order_amount"] == "10.5"


@pytest.mark.parametrize("strategy, params, field, message", [
    ("sma_cross", {"fast": "ten"}, "fast", "must be a whole number"),
    ("sma_cross", {"fast": 1.5}, "fast", "must be a whole number"),
    ("sma_cross", {"fast": True}, "fast", "must be a whole number"),
    ("sma_cross", {"fast": 0}, "fast", "must be at least 1"),
    ("sma_cross", {"slow": 5000}, "slow", "must be at most 2000"),
    ("sma_cross", {"fast": 30, "slow": 30}, "fast", "must be less than slow"),
    ("sma_cross", {"fast": 40, "slow": 30}, "fast", "must be less than slow"),
    ("sma_cross", {"size_pct": 0}, "size_pct", "must be greater than 0"),
    ("sma_cross", {"size_pct": "101"}, "size_pct", "must be at most 100"),
    ("sma_cross", {"size_pct": "lots"}, "size_pct", "must be a number"),
    ("sma_cross", {"size_pct": "NaN"}, "size_pct", "must be a finite number"),
    ("sma_cross", {"colour": "red"}, "colour", "unknown parameter for sma_cross"),
    ("rsi", {"period": 1}, "period", "must be at least 2"),
    ("rsi", {"oversold": 70, "overbought": 30}, "oversold", "must be less than overbought"),
    ("rsi", {"overbought": 120}, "overbought", "must be at most 100"),
    ("grid", {"upper": 2, "order_amount": 1}, "lower", "this parameter is required"),
    ("grid", {"lower": 200, "upper": 100, "order_amount": 1}, "lower", "must be less than upper"),
    ("grid", {"lower": 100, "upper": 200, "order_amount": 1, "levels": 1}, "levels", "must be at least 2"),
    ("grid", {"lower": 0, "upper": 200, "order_amount": 1}, "lower", "must be greater than 0"),
    ("dca", {"interval_minutes": 0, "order_amount": 10}, "interval_minutes", "must be at least 1"),
    ("dca", {"order_amount": -1}, "order_amount", "must be greater than 0"),
    ("dca", {}, "order_amount", "this parameter is required"),
    ("dca", {"order_amount": 10, "take_profit_pct": -1}, "take_profit_pct", "must be at least 0"),
    ("dca", {"order_amount": "1e999999"}, "order_amount", "must be at most 1000000000000"),
    ("sma_cross", {"stop_loss_pct": -1}, "stop_loss_pct", "must be at least 0"),
    ("sma_cross", {"stop_loss_pct": "100.5"}, "stop_loss_pct", "must be at most 100"),
    ("rsi", {"trailing_stop_pct": "x"}, "trailing_stop_pct", "must be a number"),
    ("rsi", {"take_profit_pct": 2000}, "take_profit_pct", "must be at most 1000"),
    ("dca", {"order_amount": 10, "safety_step_pct": 60}, "safety_step_pct", "must be at most 50"),
    ("dca", {"order_amount": 10, "safety_volume_scale": 0}, "safety_volume_scale", "must be greater than 0"),
    ("dca", {"order_amount": 10, "safety_max_count": -1}, "safety_max_count", "must be at least 0"),
    ("dca", {"order_amount": 10, "safety_step_pct": 10, "safety_max_count": 10}, "safety_step_pct",
     "must stay below 100 %"),
    ("grid", {"lower": "1e-30", "upper": 2, "order_amount": 1}, "lower", "at most 18 decimal places"),
    ("grid", {"lower": 1, "upper": 2, "order_amount": "Infinity"}, "order_amount", "must be a finite number"),
])
def test_bad_params_say_which_field_and_why(strategy, params, field, message):
    with pytest.raises(ParamError) as exc:
        validate_params(strategy, params)
    assert message in exc.value.fields[field]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(ParamError) as exc:
        validate_params("rsi", {"period": "x", "oversold": -1, "extra": 1})
    assert set(exc.value.fields) == {"period", "oversold", "extra"}


def test_an_unknown_strategy_and_non_object_params_are_param_errors():
    with pytest.raises(ParamError) as exc:
        validate_params("martingale", {})
    assert "unknown strategy" in exc.value.fields["strategy"] and "sma_cross" in exc.value.fields["strategy"]
    with pytest.raises(ParamError) as exc:
        validate_params("rsi", [1, 2])
    assert exc.value.fields == {"params": "must be an object"}


# --- sma_cross ----------------------------------------------------------------------------------

SMA = get_strategy("sma_cross", {"fast": 2, "slow": 4})
# closes ... 10 10 10 10 then 13: fast (11.5) crosses above slow (10.75)
UP = [10, 10, 10, 10, 13]
DOWN = [10, 10, 10, 10, 7]


def test_sma_cross_buys_size_pct_of_the_free_quote_when_fast_crosses_above_slow():
    (intent,) = SMA.decide(ctx(UP))
    assert intent.side == "buy" and intent.type == "market" and intent.quote_amount == D("1000")
    assert "crossed above" in intent.reason
    half = get_strategy("sma_cross", {"fast": 2, "slow": 4, "size_pct": 50})
    (intent,) = half.decide(ctx(UP, wallet=Wallet(quote=D("1000"), quote_reserved=D("200"))))
    assert intent.quote_amount == D("400")  # 50 % of the FREE quote


def test_sma_cross_sells_the_whole_position_when_fast_crosses_below():
    (intent,) = SMA.decide(ctx(DOWN, wallet=Wallet(base=D("2.5"), quote=D("1"))))
    assert intent.side == "sell" and intent.amount == D("2.5") and "crossed below" in intent.reason


def test_sma_cross_is_long_only_and_does_nothing_without_a_cross():
    assert SMA.decide(ctx(DOWN)) == []  # nothing to sell, never shorts
    assert SMA.decide(ctx([10, 11, 12, 13, 14, 15])) == []  # fast above slow, but no cross on this candle
    assert SMA.decide(ctx(UP, wallet=Wallet(base=D("1"), quote=D("1000")))) == []  # already long
    assert SMA.decide(ctx([10, 10, 13])) == []  # not enough candles yet


# --- rsi ----------------------------------------------------------------------------------------

def test_rsi_matches_a_hand_computation():
    # changes +2 -1 +2 -1: gains 4, losses 2 -> RS 2 -> RSI 66.67
    assert rsi(bars_from_closes([10, 12, 11, 13, 12]), 4).quantize(D("0.01")) == D("66.67")
    assert rsi(bars_from_closes([10, 11, 12]), 2) == 100


RSI = get_strategy("rsi", {"period": 3, "oversold": 30, "overbought": 70, "size_pct": 100})


def test_rsi_buys_when_oversold_and_flat_and_sells_everything_when_overbought():
    (buy,) = RSI.decide(ctx([20, 18, 16, 14]))
    assert buy.side == "buy" and buy.quote_amount == D("1000") and "RSI 0.00 below 30" in buy.reason
    assert RSI.decide(ctx([20, 18, 16, 14], wallet=Wallet(base=D("1"), quote=D("10")))) == []
    (sell,) = RSI.decide(ctx([10, 12, 14, 16], wallet=Wallet(base=D("3"))))
    assert sell.side == "sell" and sell.amount == D("3")
    assert RSI.decide(ctx([10, 12, 14, 16])) == []  # nothing held
    assert RSI.decide(ctx([10, 11, 10, 11])) == []  # in between


# --- dca ----------------------------------------------------------------------------------------

DCA = get_strategy("dca", {"interval_minutes": 3, "order_amount": "100", "take_profit_pct": "5"})


def test_dca_buys_order_amount_every_interval():
    state = {}
    (intent,) = DCA.decide(ctx([10, 10], state=state))
    assert intent.side == "buy" and intent.quote_amount == D("100")
    # the next buy is due 3 minutes (3 one-minute candles) later
    assert DCA.decide(ctx([10, 10, 10], state=state)) == []
    assert DCA.decide(ctx([10, 10, 10, 10], state=state)) == []
    (again,) = DCA.decide(ctx([10, 10, 10, 10, 10], state=state))
    assert again.quote_amount == D("100")


def test_dca_takes_profit_on_the_whole_position_and_stops_buying_when_out_of_money():
    (sell,) = DCA.decide(ctx([10, 10.5], wallet=Wallet(base=D("20"), quote=D("500")), avg=D("10")))
    assert sell.side == "sell" and sell.amount == D("20") and "take profit" in sell.reason
    (buy,) = DCA.decide(ctx([10, 10.4], wallet=Wallet(base=D("20"), quote=D("500")), avg=D("10")))
    assert buy.side == "buy"  # 4 % is below the 5 % target
    assert DCA.decide(ctx([10, 10], wallet=Wallet(quote=D("99")))) == []


# --- grid ---------------------------------------------------------------------------------------

GRID = get_strategy("grid", {"lower": 90, "upper": 110, "levels": 5, "order_amount": 100})  # 90 95 100 105 110


def test_grid_places_limit_buys_only_on_the_lines_below_the_market():
    intents = GRID.decide(ctx([102, 102]))
    assert [(i.side, i.type, i.price) for i in intents] == [("buy", "limit", D("90")), ("buy", "limit", D("95")),
                                                            ("buy", "limit", D("100"))]
    assert intents[0].amount == D("1.111111111111")  # 100 quote / 90, rounded down (no step known: 12 places)
    assert [i.client_tag for i in intents] == ["grid:0:buy", "grid:1:buy", "grid:2:buy"]


def test_grid_does_not_duplicate_resting_orders_or_spend_money_it_does_not_have():
    resting = [RestingOrder(id="a", side="buy", price=D("95"), amount=D("1"), client_tag="grid:1:buy")]
    intents = GRID.decide(ctx([102, 102], open_orders=resting, wallet=Wallet(quote=D("150"))))
    assert [i.price for i in intents] == [D("90")]


def test_grid_sells_a_filled_buy_one_line_up_and_buys_the_line_again_after_the_sale():
    state = {}
    bought = Fill(side="buy", price=D("95"), amount=D("1.05"), fee=D("0.1"), fee_currency="USDT",
                  slippage=D(0), liquidity="maker", ts_ms=T0, client_tag="grid:1:buy")
    others = [RestingOrder(id=t, side="buy", price=p, amount=D("1"), client_tag=t)
              for t, p in (("grid:0:buy", D("90")), ("grid:2:buy", D("100")))]
    intents = GRID.decide(ctx([96, 97], fills=[bought], state=state, open_orders=others,
                              wallet=Wallet(base=D("1.05"), quote=D("800"))))
    assert [(i.side, i.price, i.amount, i.client_tag) for i in intents] == [("sell", D("100"), D("1.05"),
                                                                              "grid:1:sell")]
    assert state["held"] == {"1": "1.05"}
    sold = Fill(side="sell", price=D("100"), amount=D("1.05"), fee=D("0.1"), fee_currency="USDT",
                slippage=D(0), liquidity="maker", ts_ms=T0, client_tag="grid:1:sell")
    intents = GRID.decide(ctx([101, 99], fills=[sold], state=state, open_orders=others))
    assert [(i.side, i.price) for i in intents] == [("buy", D("95"))]
    assert state["held"] == {}


def test_params_given_as_strings_or_numbers_make_the_same_strategy():
    assert get_strategy("grid", {"lower": "90", "upper": "110", "levels": "5", "order_amount": "100"}).params \
        == GRID.params


# --- stop-loss, take-profit, trailing stop (sma_cross and rsi) ------------------------------------

FLAT = [10, 10, 10, 10, 10, 10]  # no cross, RSI 50: the strategy itself would hold


@pytest.mark.parametrize("strategy", ["sma_cross", "rsi"])
def test_a_stop_loss_sells_the_whole_position_when_the_close_falls_that_far_below_the_entry(strategy):
    s = get_strategy(strategy, {"stop_loss_pct": "5"} | ({"fast": 2, "slow": 4} if strategy == "sma_cross" else
                                                          {"period": 3}))
    held = Wallet(base=D("2"), quote=D("1"))
    (sell,) = s.decide(ctx([10, 10, 10, 10, 10, D("9.5")], wallet=held, avg=D("10")))
    assert sell.side == "sell" and sell.type == "market" and sell.amount == D("2")
    assert sell.reason.startswith("stop-loss: close 9.5 is 5% or more below the average entry 10")


@pytest.mark.parametrize("strategy", ["sma_cross", "rsi"])
def test_a_take_profit_sells_everything_at_the_target_and_not_before(strategy):
    s = get_strategy(strategy, {"take_profit_pct": "3"})
    held = Wallet(base=D("2"), quote=D("1"))
    assert s.decide(ctx([*FLAT, D("10.29")], wallet=held, avg=D("10"))) == []
    (sell,) = s.decide(ctx([*FLAT, D("10.3")], wallet=held, avg=D("10")))
    assert sell.side == "sell" and sell.amount == D("2") and sell.reason.startswith("take-profit")


def test_a_trailing_stop_follows_the_highest_close_since_entry_and_sells_on_the_pullback():
    s = get_strategy("rsi", {"trailing_stop_pct": "10", "period": 3, "overbought": 100})
    held, state = Wallet(base=D("1")), {}
    for close in (10, 12, 15):  # the peak rises with the price; nothing sold
        assert s.decide(ctx([10, 10, 10, close], wallet=held, avg=D("10"), state=state)) == []
    assert state["exit_peak"] == "15"
    assert s.decide(ctx([15, 15, 15, D("13.6")], wallet=held, avg=D("10"), state=state)) == []  # 9.3 % off
    (sell,) = s.decide(ctx([15, 15, 15, D("13.5")], wallet=held, avg=D("10"), state=state))  # 10 % off the peak
    assert sell.amount == D("1") and "trailing stop" in sell.reason and "highest close 15" in sell.reason
    assert "exit_peak" not in state  # the next position trails from its own entry
    assert s.decide(ctx([15, 15, 15, 15], avg=None, state=state)) == [] and "exit_peak" not in state


def test_exit_rules_are_off_by_default_and_leave_the_strategy_state_alone():
    state = {}
    s = get_strategy("rsi", {"period": 3})  # RSI 0 while holding: the strategy itself holds
    assert s.decide(ctx([*FLAT, 1], wallet=Wallet(base=D("1")), avg=D("10"), state=state)) == []
    assert state == {}


def test_exits_come_before_the_signal_and_need_a_position():
    s = get_strategy("sma_cross", {"fast": 2, "slow": 4, "stop_loss_pct": "1"})
    (buy,) = s.decide(ctx(UP))  # flat: the cross still buys
    assert buy.side == "buy"
    (sell,) = s.decide(ctx(DOWN, wallet=Wallet(base=D("1")), avg=D("10")))  # both fire: one sell, the stop's
    assert sell.reason.startswith("stop-loss")


# --- dca safety orders ---------------------------------------------------------------------------

SAFE = get_strategy("dca", {"interval_minutes": 600, "order_amount": "100", "take_profit_pct": "5",
                            "safety_step_pct": "2", "safety_volume_scale": "1.5", "safety_max_count": 2})


def test_dca_safety_orders_buy_more_at_each_step_below_the_first_entry_scaled_up_to_the_max_count():
    state = {}
    (base,) = SAFE.decide(ctx([100, 100], state=state))
    assert base.quote_amount == D("100") and base.reason.startswith("DCA buy")
    held = Wallet(base=D("1"), quote=D("900"))
    assert SAFE.decide(ctx([100, 100, 99], wallet=held, avg=D("100"), state=state)) == []  # 1 % down
    assert state["deal_ref"] == "100"
    (first,) = SAFE.decide(ctx([100, 100, 98], wallet=held, avg=D("100"), state=state))  # 2 % down
    assert first.side == "buy" and first.quote_amount == D("150") and first.reason.startswith("safety order 1/2")
    # the average entry moves, the reference stays the deal's first entry
    assert SAFE.decide(ctx([100, 100, 97], wallet=held, avg=D("98.8"), state=state)) == []
    (second,) = SAFE.decide(ctx([100, 100, 96], wallet=held, avg=D("98.8"), state=state))  # 4 % down
    assert second.quote_amount == D("225") and "safety order 2/2" in second.reason
    assert SAFE.decide(ctx([100, 100, 80], wallet=held, avg=D("97"), state=state)) == []  # max count reached


def test_dca_safety_orders_reset_after_the_take_profit_and_skip_what_the_wallet_cannot_pay():
    state = {"deal_ref": "100", "safety_used": 2, "next_buy_ms": T0 + 10**9}
    (sell,) = SAFE.decide(ctx([100, 106], wallet=Wallet(base=D("3"), quote=D("1")), avg=D("100"), state=state))
    assert sell.side == "sell" and "deal_ref" not in state and "safety_used" not in state
    poor = Wallet(base=D("1"), quote=D("120"))  # safety order 1 needs 150
    state = {"next_buy_ms": T0 + 10**9}
    assert SAFE.decide(ctx([100, 100, 98], wallet=poor, avg=D("100"), state=state)) == []
    assert state.get("safety_used") is None  # not placed, not counted


def test_dca_without_safety_params_behaves_as_before():
    assert validate_params("dca", {"order_amount": 10})["safety_max_count"] == 0
    state = {"next_buy_ms": T0 + 10**9}
    assert DCA.decide(ctx([100, 100, 50], wallet=Wallet(base=D("1"), quote=D("900")), avg=D("100"),
                          state=state)) == []
