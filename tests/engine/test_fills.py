"""The paper fill engine: prices, slippage, book walking, fees, rejections, precision, funds, limits."""

import random
from decimal import Decimal

import pytest

from tests.engine.factories import T0, bar
from trading.engine.fills import EXCHANGE_REJECT_MESSAGES, fill_limit, fill_market, place_limit
from trading.engine.types import (
    Book,
    Fill,
    FillConfig,
    Intent,
    MarketRules,
    Quote,
    Reject,
    RestingOrder,
    Wallet,
)

D = Decimal
NO_REJECTS = FillConfig(reject_rate=D("0"))
USDT = MarketRules(quote_currency="USDT", base_currency="BTC")
RICH = Wallet(base=D("10"), quote=D("100000"))


def market(side, wallet=RICH, *, amount=None, quote_amount=None, quote=None, book=None, next_open=None,
           rules=USDT, cfg=NO_REJECTS, seed=1):
    return fill_market(Intent(side, "market", amount=None if amount is None else D(amount),
                              quote_amount=None if quote_amount is None else D(quote_amount)), wallet,
                       quote=quote, book=book, next_open=None if next_open is None else D(next_open),
                       rules=rules, cfg=cfg, rng=random.Random(seed), ts_ms=T0, order_id="o1")


# --- price and slippage without a book --------------------------------------------------------

@pytest.mark.parametrize("seed", range(30))
def test_a_market_buy_on_candle_data_pays_the_next_open_plus_0_1_to_0_2_percent(seed):
    fill = market("buy", amount="1", next_open="100", seed=seed)
    assert isinstance(fill, Fill)
    assert D("100.1") <= fill.price <= D("100.2")
    assert fill.reference_price == D("100") and fill.slippage == (fill.price - 100) / 100
    assert fill.liquidity == "taker" and fill.ts_ms == T0 and fill.order_id == "o1"


@pytest.mark.parametrize("seed", range(30))
def test_a_market_sell_gets_the_next_open_minus_0_1_to_0_2_percent(seed):
    fill = market("sell", amount="1", next_open="100", seed=seed)
    assert D("99.8") <= fill.price <= D("99.9")
    assert fill.slippage == (100 - fill.price) / 100 > 0


def test_without_candles_a_buy_fills_at_the_ask_and_a_sell_at_the_bid_moved_against_the_trader():
    q = Quote(bid=D("99"), ask=D("101"), last=D("100"))
    buy, sell = market("buy", amount="1", quote=q), market("sell", amount="1", quote=q)
    assert buy.reference_price == D("101") and D("101.101") <= buy.price <= D("101.202")
    assert sell.reference_price == D("99") and D("98.802") <= sell.price <= D("98.901")


def test_the_next_open_wins_over_the_quote_on_candle_data():
    fill = market("buy", amount="1", next_open="50", quote=Quote(D("99"), D("101"), D("100")))
    assert fill.reference_price == D("50")


def test_slippage_bounds_come_from_the_config():
    cfg = FillConfig(reject_rate=D("0"), slippage_min=D("0.01"), slippage_max=D("0.01"))
    assert market("buy", amount="1", next_open="100", cfg=cfg).price == D("101")


def test_no_price_at_all_is_a_rejection_not_a_crash():
    r = market("buy", amount="1")
    assert isinstance(r, Reject) and r.code == "no_price" and r.order_id == "o1"


# --- the order book ------------------------------------------------------------------------------

BOOK = Book(bids=[(D("99"), D("1")), (D("98"), D("2")), (D("97"), D("5"))],
            asks=[(D("101"), D("1")), (D("102"), D("2")), (D("103"), D("5"))])


def test_a_market_buy_walks_the_asks_at_the_volume_weighted_price():
    fill = market("buy", amount="2", book=BOOK)
    # 1 @ 101 + 1 @ 102
    assert fill.amount == D("2") and fill.price == D("101.5")
    assert fill.reference_price == D("101") and fill.slippage == D("0.5") / D("101")


def test_a_market_sell_walks_the_bids():
    fill = market("sell", amount="3", book=BOOK)
    assert fill.price == (D("99") + 2 * D("98")) / 3 and fill.reference_price == D("99")


def test_the_book_walk_is_capped_by_levels_and_what_it_cannot_take_is_not_filled():
    cfg = FillConfig(reject_rate=D("0"), max_book_levels=2)
    fill = market("buy", amount="8", book=BOOK, cfg=cfg)
    assert fill.amount == D("3") and fill.price == (D("101") + 2 * D("102")) / 3


def test_the_book_walk_is_capped_by_distance_from_the_best_price():
    cfg = FillConfig(reject_rate=D("0"), max_book_slippage_pct=D("1.5"))  # 102 is 0.99 % away, 103 is 1.98 %
    fill = market("buy", amount="8", book=BOOK, cfg=cfg)
    assert fill.amount == D("3")


def test_a_quote_sized_buy_on_the_book_spends_at_most_that_much_including_the_fee():
    fill = market("buy", quote_amount="250", book=BOOK)
    assert fill.price * fill.amount + fill.fee <= D("250")
    assert fill.price * fill.amount + fill.fee > D("249.9")


def test_a_ccxt_book_with_float_levels_and_extra_fields_is_read_exactly():
    book = Book(bids=[[99.1, 1.0, 3]], asks=[[100.1, 0.5, 2], [100.2, 2.0, 7]])
    fill = market("buy", amount="1", book=book)
    assert fill.price == (D("100.1") * D("0.5") + D("100.2") * D("0.5"))
    assert market("sell", amount="1", book=book).price == D("99.1")


def test_an_empty_side_of_the_book_falls_back_to_the_next_open():
    fill = market("buy", amount="1", book=Book(bids=BOOK.bids, asks=[]), next_open="100")
    assert fill.reference_price == D("100")


# --- fees ---------------------------------------------------------------------------------------

def test_the_taker_fee_comes_from_the_market_and_is_charged_in_quote():
    rules = MarketRules(taker_fee=D("0.002"), maker_fee=D("0.0005"), quote_currency="USDT")
    cfg = FillConfig(reject_rate=D("0"), slippage_min=D("0"), slippage_max=D("0"))
    fill = market("buy", amount="2", next_open="100", rules=rules, cfg=cfg)
    assert fill.fee == D("0.4") and fill.fee_currency == "USDT"


def test_an_unknown_fee_falls_back_to_0_1_percent():
    cfg = FillConfig(reject_rate=D("0"), slippage_min=D("0"), slippage_max=D("0"))
    fill = market("sell", amount="2", next_open="100", rules=MarketRules(), cfg=cfg)
    assert fill.fee == D("0.2") and fill.fee_currency == "quote"


# --- seeded rejections --------------------------------------------------------------------------

def test_about_3_percent_of_orders_are_rejected_with_an_exchange_like_reason():
    results = [market("buy", amount="1", next_open="100", cfg=FillConfig(), seed=s) for s in range(4000)]
    rejected = [r for r in results if isinstance(r, Reject)]
    assert 0.02 < len(rejected) / len(results) < 0.04
    assert {r.code for r in rejected} == {"exchange_rejected"}
    assert {r.message for r in rejected} <= set(EXCHANGE_REJECT_MESSAGES)
    assert all(r.message.startswith("Order rejected by the exchange") for r in rejected)


def test_the_same_seed_rejects_the_same_orders():
    a = [isinstance(market("buy", amount="1", next_open="100", cfg=FillConfig(), seed=s), Reject) for s in range(500)]
    b = [isinstance(market("buy", amount="1", next_open="100", cfg=FillConfig(), seed=s), Reject) for s in range(500)]
    assert a == b and any(a)


def test_a_zero_reject_rate_never_rejects_and_one_always_does():
    assert all(isinstance(market("buy", amount="1", next_open="100", seed=s), Fill) for s in range(300))
    r = market("buy", amount="1", next_open="100", cfg=FillConfig(reject_rate=D("1")))
    assert isinstance(r, Reject) and r.code == "exchange_rejected"


# --- precision and minimums ---------------------------------------------------------------------

def test_the_amount_is_rounded_down_to_the_step_and_the_price_against_the_trader():
    rules = MarketRules(amount_step=D("0.001"), price_step=D("0.01"))
    cfg = FillConfig(reject_rate=D("0"), slippage_min=D("0.0015"), slippage_max=D("0.0015"))
    buy = market("buy", amount="1.23456", next_open="100.003", rules=rules, cfg=cfg)
    assert buy.amount == D("1.234")
    assert buy.price == D("100.16")  # 100.003 * 1.0015 = 100.1530.. rounded UP
    sell = market("sell", amount="1.23456", next_open="100.003", rules=rules, cfg=cfg)
    assert sell.price == D("99.85")  # 99.8529.. rounded DOWN


def test_below_the_minimum_amount_is_rejected():
    r = market("buy", amount="0.0005", next_open="100", rules=MarketRules(min_amount=D("0.001")))
    assert r.code == "min_amount" and "0.001" in r.message


def test_an_amount_that_rounds_to_nothing_is_rejected():
    r = market("buy", amount="0.0004", next_open="100", rules=MarketRules(amount_step=D("0.001")))
    assert r.code == "min_amount"


def test_below_the_minimum_cost_is_rejected():
    r = market("buy", amount="0.05", next_open="100", rules=MarketRules(min_cost=D("10")))
    assert r.code == "min_cost" and "10" in r.message


# --- never spend more than the wallet -----------------------------------------------------------

def test_a_buy_of_all_the_free_quote_leaves_room_for_the_fee():
    w = Wallet(quote=D("1000"))
    fill = market("buy", w, quote_amount="1000", next_open="100", rules=MarketRules(amount_step=D("0.0001")))
    assert fill.price * fill.amount + fill.fee <= D("1000")
    assert D("1000") - (fill.price * fill.amount + fill.fee) < fill.price * D("0.0001") * D("1.002")


def test_a_buy_bigger_than_the_quote_balance_is_rejected():
    r = market("buy", Wallet(quote=D("100")), amount="1", next_open="100")
    assert r.code == "insufficient_funds" and "available" in r.message


def test_a_quote_sized_buy_above_the_balance_is_rejected():
    assert market("buy", Wallet(quote=D("100")), quote_amount="101", next_open="100").code == "insufficient_funds"


def test_a_sell_bigger_than_the_base_balance_is_rejected():
    assert market("sell", Wallet(base=D("1")), amount="1.5", next_open="100").code == "insufficient_funds"


def test_reserved_funds_cannot_be_spent():
    w = Wallet(base=D("2"), quote=D("1000"), base_reserved=D("1.5"), quote_reserved=D("950"))
    assert market("sell", w, amount="1", next_open="100").code == "insufficient_funds"
    assert market("buy", w, amount="1", next_open="100").code == "insufficient_funds"
    assert isinstance(market("sell", w, amount="0.5", next_open="100"), Fill)


@pytest.mark.parametrize("intent, code", [
    (Intent("buy", "market"), "invalid_order"),
    (Intent("buy", "market", amount=D("1"), quote_amount=D("1")), "invalid_order"),
    (Intent("buy", "market", amount=D("-1")), "invalid_order"),
    (Intent("hold", "market", amount=D("1")), "invalid_order"),
])
def test_malformed_intents_are_rejected_with_a_reason(intent, code):
    r = fill_market(intent, RICH, quote=None, book=None, next_open=D("100"), rules=USDT, cfg=NO_REJECTS,
                    rng=random.Random(1))
    assert isinstance(r, Reject) and r.code == code and r.message


# --- limit orders -------------------------------------------------------------------------------

def limit(side, price, amount, wallet=RICH, *, next_open="100", book=None, rules=USDT, cfg=NO_REJECTS):
    return place_limit(Intent(side, "limit", amount=D(amount), price=D(price), client_tag="t"), wallet,
                       quote=None, book=book, next_open=D(next_open), rules=rules, cfg=cfg,
                       rng=random.Random(1), order_id="L1", ts_ms=T0, after_ms=T0)


def test_a_limit_below_the_market_rests_with_the_maker_fee_locked_in():
    taker, rest = limit("buy", "95", "2", rules=MarketRules(maker_fee=D("0.0004")))
    assert taker is None and rest.price == D("95") and rest.amount == D("2") and rest.fee_rate == D("0.0004")
    assert rest.id == "L1" and rest.client_tag == "t" and rest.after_ms == T0


def test_a_marketable_limit_fills_as_taker_never_worse_than_its_limit():
    taker, rest = limit("buy", "100.05", "1")  # the slipped price (>= 100.1) is capped at the limit
    assert rest is None and taker.liquidity == "taker" and taker.price == D("100.05")
    taker, rest = limit("buy", "110", "1")
    assert rest is None and D("100.1") <= taker.price <= D("100.2") and taker.liquidity == "taker"
    assert taker.limit_price == D("110")  # the order stays a limit order in the books
    taker, _ = limit("sell", "99", "1")
    assert D("99.8") <= taker.price <= D("99.9")


def test_a_marketable_limit_on_the_book_takes_what_is_inside_its_price_and_rests_the_rest():
    taker, rest = limit("buy", "102", "5", book=BOOK)
    assert taker.amount == D("3") and taker.price == (D("101") + 2 * D("102")) / 3
    assert rest.amount == D("2") and rest.price == D("102")


def test_a_limit_price_is_rounded_to_the_price_step():
    _, rest = limit("buy", "95.129", "1", rules=MarketRules(price_step=D("0.01")))
    assert rest.price == D("95.12")
    _, rest = limit("sell", "105.121", "1", rules=MarketRules(price_step=D("0.01")))
    assert rest.price == D("105.13")


def test_a_limit_the_wallet_cannot_back_is_rejected():
    r = limit("buy", "95", "2", Wallet(quote=D("100")))
    assert isinstance(r, Reject) and r.code == "insufficient_funds"
    r = limit("sell", "105", "2", Wallet(base=D("1")))
    assert r.code == "insufficient_funds"


def test_a_limit_placement_can_be_rejected_by_the_exchange():
    r = limit("buy", "95", "1", cfg=FillConfig(reject_rate=D("1")))
    assert r.code == "exchange_rejected"


def resting(side="buy", price="95", amount="2", filled="0", after_ms=T0):
    return RestingOrder(id="L1", side=side, price=D(price), amount=D(amount), filled=D(filled),
                        fee_rate=D("0.001"), after_ms=after_ms)


def test_a_resting_buy_fills_only_when_the_market_trades_through_its_price():
    rules = MarketRules()
    assert fill_limit(resting(), bar(0, 100, 101, 95, 99, 1000), rules=rules, cfg=NO_REJECTS) is None  # touch
    assert fill_limit(resting(), bar(0, 100, 101, 96, 99, 1000), rules=rules, cfg=NO_REJECTS) is None
    fill = fill_limit(resting(), bar(0, 100, 101, 94, 99, 1000), rules=rules, cfg=NO_REJECTS)
    assert fill.price == D("95") and fill.amount == D("2") and fill.liquidity == "maker"
    assert fill.fee == D("0.19") and fill.slippage == 0 and fill.order_id == "L1"


def test_a_resting_sell_fills_when_the_high_goes_above_it():
    order = resting("sell", "105")
    assert fill_limit(order, bar(0, 100, 105, 99, 104), rules=USDT, cfg=NO_REJECTS) is None
    assert fill_limit(order, bar(0, 100, 106, 99, 104), rules=USDT, cfg=NO_REJECTS).price == D("105")


def test_a_limit_fills_only_as_much_as_the_volume_traded_through_its_price():
    # range 90..100, buy at 95: half the range is below the price -> half the 2.0 volume = 1.0
    order = resting(amount="5")
    fill = fill_limit(order, bar(0, 100, 100, 90, 92, "2"), rules=USDT, cfg=NO_REJECTS)
    assert fill.amount == D("1")
    cfg = FillConfig(reject_rate=D("0"), limit_volume_share=D("0.5"))
    assert fill_limit(order, bar(0, 100, 100, 90, 92, "2"), rules=USDT, cfg=cfg).amount == D("0.5")
    assert fill_limit(resting(amount="5", filled="4.5"), bar(0, 100, 100, 90, 92, "2"), rules=USDT,
                      cfg=NO_REJECTS).amount == D("0.5")


def test_a_limit_never_fills_against_a_candle_from_before_it_was_placed():
    order = resting(after_ms=T0 + 60_000)
    assert fill_limit(order, bar(0, 100, 101, 90, 99, 1000), rules=USDT, cfg=NO_REJECTS) is None
    assert fill_limit(order, bar(1, 100, 101, 90, 99, 1000), rules=USDT, cfg=NO_REJECTS) is not None


def test_a_partial_limit_fill_is_rounded_down_to_the_amount_step():
    fill = fill_limit(resting(amount="5"), bar(0, 100, 100, 90, 92, "2.5"),
                      rules=MarketRules(amount_step=D("0.1")), cfg=NO_REJECTS)
    assert fill.amount == D("1.2")  # 1.25 traded through -> 1.2


def test_a_candle_without_volume_data_fills_the_whole_order_once_the_price_trades_through():
    # candles built from polled tickers carry volume 0 = unknown, not "nothing traded"
    fill = fill_limit(resting(amount="5"), bar(0, 100, 100, 90, 92, "0"), rules=USDT, cfg=NO_REJECTS)
    assert fill.amount == D("5") and fill.price == D("95")
    assert fill_limit(resting(amount="5"), bar(0, 100, 100, 96, 97, "0"), rules=USDT, cfg=NO_REJECTS) is None


# --- per-bot overrides of the fill knobs ---------------------------------------------------------

def test_per_bot_overrides_change_only_the_named_knobs():
    cfg = FillConfig.from_overrides({"slippage_min": "0.0005", "reject_rate": 0, "max_book_levels": 5})
    assert cfg.slippage_min == D("0.0005") and cfg.reject_rate == 0 and cfg.max_book_levels == 5
    assert cfg.slippage_max == D("0.002") and cfg.fallback_fee == D("0.001")
    assert FillConfig.from_overrides(None) == FillConfig() == FillConfig.from_overrides({})
    platform = FillConfig(reject_rate=D("0.05"))
    assert FillConfig.from_overrides({"fallback_fee": "0.002"}, base=platform).reject_rate == D("0.05")
    assert FillConfig.from_overrides(cfg.to_json()) == cfg


@pytest.mark.parametrize("overrides, field, message", [
    ({"slipage_min": "0.1"}, "slipage_min", "unknown setting"),
    ({"reject_rate": "1.5"}, "reject_rate", "must be between 0 and 1"),
    ({"reject_rate": "often"}, "reject_rate", "must be a number"),
    ({"slippage_max": -0.1}, "slippage_max", "must be between 0 and 0.1"),
    ({"slippage_min": "0.003"}, "slippage_min", "must not be greater than slippage_max"),
    ({"max_book_levels": 2.5}, "max_book_levels", "must be a whole number"),
    ({"max_book_levels": 0}, "max_book_levels", "must be between 1 and 1000"),
    ({"fallback_fee": True}, "fallback_fee", "must be a number"),
])
def test_bad_overrides_are_refused_with_the_field_and_the_reason(overrides, field, message):
    from trading.engine.types import ParamError

    with pytest.raises(ParamError) as exc:
        FillConfig.from_overrides(overrides)
    assert message in exc.value.fields[field]
