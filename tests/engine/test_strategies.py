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
        "sma_cross": ["fast", "slow", "size_pct"],
        "rsi": ["period", "oversold", "overbought", "size_pct"],
        "grid": ["lower", "upper", "levels", "order_amount"],
        "dca": ["interval_minutes", "order_amount", "take_profit_pct"],
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
    assert validate_params("sma_cross", {}) == {"fast": 10, "slow": 30, "size_pct": "100"}
    assert validate_params("rsi", {"oversold": 25.5}) == {"period": 14, "oversold": "25.5", "overbought": "70",
                                                          "size_pct": "100"}
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
