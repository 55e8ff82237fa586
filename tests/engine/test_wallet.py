"""Wallet arithmetic and the engine's money properties (hypothesis): never negative, fees always
charged, equity conserved across a fill apart from fees and slippage, same seed -> same fills."""

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.engine.fills import fill_market, place_limit
from trading.engine.types import Fill, FillConfig, Intent, MarketRules, RestingOrder, Wallet
from trading.engine.wallet import WalletError, apply, equity, release, reserve, with_reservations

D = Decimal


def fill(side, price, amount, fee):
    return Fill(side=side, price=D(price), amount=D(amount), fee=D(fee), fee_currency="USDT", slippage=D(0),
                liquidity="taker", ts_ms=0)


def test_a_buy_adds_base_and_costs_price_times_amount_plus_the_fee_in_quote():
    w = apply(Wallet(quote=D("1000")), fill("buy", "100", "2", "0.2"))
    assert w.base == D("2") and w.quote == D("799.8")


def test_a_sell_removes_base_and_pays_price_times_amount_minus_the_fee():
    w = apply(Wallet(base=D("3"), quote=D("10")), fill("sell", "100", "2", "0.2"))
    assert w.base == D("1") and w.quote == D("209.8")


def test_equity_is_quote_plus_base_at_the_last_price():
    assert equity(Wallet(base=D("1.5"), quote=D("100")), D("200")) == D("400")


def test_a_fill_the_wallet_cannot_pay_for_is_refused():
    with pytest.raises(WalletError):
        apply(Wallet(quote=D("10")), fill("buy", "100", "1", "0"))
    with pytest.raises(WalletError):
        apply(Wallet(base=D("0.5")), fill("sell", "100", "1", "0"))


def order(side, price, amount, filled="0", fee_rate="0.001"):
    return RestingOrder(id="x", side=side, price=D(price), amount=D(amount), filled=D(filled), fee_rate=D(fee_rate))


def test_a_resting_buy_reserves_its_cost_plus_maker_fee_and_a_sell_its_base():
    w = reserve(Wallet(base=D("1"), quote=D("1000")), order("buy", "100", "2"))
    assert w.quote_reserved == D("200.2") and w.free_quote == D("799.8")
    w = reserve(w, order("sell", "120", "0.4"))
    assert w.base_reserved == D("0.4") and w.free_base == D("0.6")


def test_releasing_unlocks_the_remaining_reservation():
    o = order("buy", "100", "2", filled="0.5")
    w = with_reservations(Wallet(quote=D("1000")), [o])
    assert w.quote_reserved == D("150.15")
    assert release(w, o).quote_reserved == 0
    assert release(w, o, D("0.5")).quote_reserved == D("100.1")


def test_a_limit_fill_is_paid_from_its_reservation():
    o = order("buy", "100", "2")
    w = with_reservations(Wallet(quote=D("1000")), [o])
    w = apply(w, fill("buy", "100", "1", "0.1"), from_order=o)
    assert w.quote == D("899.9") and w.quote_reserved == D("100.1") and w.base == D("1")


def test_wallets_round_trip_through_json():
    w = Wallet(base=D("1.5"), quote=D("2.25"), base_reserved=D("0.5"), quote_reserved=D("1"))
    assert Wallet.from_json(w.to_json()) == w


# --- properties ---------------------------------------------------------------------------------

prices = st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=4)
amounts = st.decimals(min_value=D("0.0001"), max_value=D("1000"), places=4)
fees = st.sampled_from([None, D("0"), D("0.0005"), D("0.001"), D("0.0075")])
steps = st.sampled_from([None, D("1"), D("0.01"), D("0.0001")])
orders = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.booleans(), amounts, prices), min_size=1,
                  max_size=25)


def _intent(side, by_quote, size):
    return Intent(side, "market", quote_amount=size) if by_quote else Intent(side, "market", amount=size)


@settings(max_examples=200, deadline=None)
@given(orders, st.integers(0, 10**6), fees, steps, prices)
def test_no_sequence_of_orders_makes_the_wallet_negative(seq, seed, fee, step, start):
    rules = MarketRules(amount_step=step, taker_fee=fee)
    cfg = FillConfig(reject_rate=D("0.1"))
    w = Wallet(base=D("1"), quote=D("1000"))
    for n, (side, by_quote, size, price) in enumerate(seq):
        r = fill_market(_intent(side, by_quote, size), w, quote=None, book=None, next_open=price, rules=rules,
                        cfg=cfg, rng=random.Random(f"{seed}:{n}"))
        if isinstance(r, Fill):
            w = apply(w, r)
        assert w.base >= 0 and w.quote >= 0


@settings(max_examples=150, deadline=None)
@given(orders, st.integers(0, 10**6), steps)
def test_limit_orders_never_reserve_more_than_the_wallet_holds(seq, seed, step):
    rules = MarketRules(amount_step=step, maker_fee=D("0.001"))
    w = Wallet(base=D("1"), quote=D("1000"))
    for n, (side, _by_quote, size, price) in enumerate(seq):
        r = place_limit(Intent(side, "limit", amount=size, price=price), w, quote=None, book=None,
                        next_open=price * 2 if side == "sell" else price / 2, rules=rules,
                        cfg=FillConfig(reject_rate=D("0")), rng=random.Random(f"{seed}:{n}"), order_id=str(n),
                        ts_ms=0, after_ms=0)
        if isinstance(r, tuple):
            _taker, rest = r
            if rest is not None:
                w = reserve(w, rest)
        assert w.free_base >= 0 and w.free_quote >= 0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["buy", "sell"]), st.booleans(), amounts, prices, st.integers(0, 10**6),
       st.sampled_from([D("0.0005"), D("0.001"), D("0.002")]))
def test_every_fill_pays_a_fee_and_equity_only_moves_by_the_fee_and_the_slippage(side, by_quote, size, price,
                                                                                  seed, fee):
    rules = MarketRules(taker_fee=fee, amount_step=D("0.0001"))
    w = Wallet(base=D("100000000"), quote=D("100000000"))
    r = fill_market(_intent(side, by_quote, size), w, quote=None, book=None, next_open=price, rules=rules,
                    cfg=FillConfig(reject_rate=D("0")), rng=random.Random(seed))
    if not isinstance(r, Fill):
        assert r.code == "min_amount"  # a tiny quote-sized order that rounds to nothing
        return
    assert r.fee > 0 and r.fee == r.price * r.amount * fee
    after = apply(w, r)
    slippage_cost = abs(r.price - r.reference_price) * r.amount
    # valued at the reference price, the wallet lost the fee plus the slippage (to Decimal's 28 digits)
    lost = equity(w, price) - equity(after, price)
    assert abs(lost - (r.fee + slippage_cost)) <= D("1e-18") * equity(w, price)
    assert r.slippage * r.reference_price * r.amount == slippage_cost


@settings(max_examples=100, deadline=None)
@given(orders, st.integers(0, 10**6))
def test_the_same_seed_gives_the_same_fills(seq, seed):
    def run():
        w, out = Wallet(base=D("5"), quote=D("10000")), []
        for n, (side, by_quote, size, price) in enumerate(seq):
            r = fill_market(_intent(side, by_quote, size), w, quote=None, book=None, next_open=price,
                            rules=MarketRules(), cfg=FillConfig(), rng=random.Random(f"{seed}:{n}"))
            out.append(r)
            if isinstance(r, Fill):
                w = apply(w, r)
        return out, w

    assert run() == run()
