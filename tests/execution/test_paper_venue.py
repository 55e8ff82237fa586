"""PaperVenue: the paper fill model behind the Venue protocol, without a database."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from tests.engine.factories import MINUTE, T0, bar
from trading.engine.fills import fill_market
from trading.engine.ids import client_order_id
from trading.engine.types import FillConfig, Intent, Market, MarketRules, RestingOrder, Wallet
from trading.execution.paper import PaperVenue
from trading.execution.states import OrderProgress, apply_report
from trading.execution.types import Fee, OrderRequest
from trading.execution.venue import OrderNotFound, UnknownSymbol, Venue, VenueError

D = Decimal
RULES = MarketRules(amount_step=D("0.0001"), price_step=D("0.01"), maker_fee=D("0.001"), taker_fee=D("0.002"),
                    base_currency="BTC", quote_currency="USDT")
NO_REJECTS = FillConfig(reject_rate=D("0"))
SYMBOL = "BTC/USDT"


def venue(*, quote="1000", base="0", seed=7, cfg=NO_REJECTS, next_open="100") -> PaperVenue:
    return PaperVenue(symbol=SYMBOL, wallet=Wallet(base=D(base), quote=D(quote)), rules=RULES, cfg=cfg, seed=seed,
                      market=Market(next_open=D(next_open), ts_ms=T0 + MINUTE), clock=lambda: T0)


def cid(n: int, step: int = T0) -> str:
    return client_order_id(bot_id=None, step_key=step, n=n)


def buy(n=0, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid(n), symbol=SYMBOL, side="buy", **{"type": "market", **kw})


def test_a_paper_venue_is_a_venue():
    assert isinstance(venue(), Venue)


def test_a_market_buy_fills_within_the_wallet_with_slippage_and_the_taker_fee():
    v = venue()
    order = v.submit(buy(quote_amount=D("500")))
    assert order.status == "filled" and order.exchange_order_id == "paper-1"
    [trade] = order.trades
    assert trade.liquidity == "taker" and trade.client_order_id == cid(0)
    assert D("100.1") <= trade.price <= D("100.2")  # 0.1-0.2 % against the buyer
    assert trade.fees == (Fee("USDT", trade.price * trade.amount * D("0.002")),)
    assert trade.cost + trade.fees[0].amount <= D("500")
    assert v.wallet.base == trade.amount and v.wallet.quote == D("1000") - trade.cost - trade.fees[0].amount
    assert order.filled == trade.amount and order.average_price == trade.price and order.fees == trade.fees


def test_a_buy_beyond_the_wallet_is_rejected_and_spends_nothing():
    v = venue(quote="100")
    order = v.submit(buy(quote_amount=D("500")))
    assert order.status == "rejected" and order.code == "insufficient_funds" and "100" in order.message
    assert order.exchange_order_id is None and order.trades == ()
    assert v.wallet == Wallet(quote=D("100"))


def test_the_same_client_id_and_seed_fill_the_same_on_every_replay():
    def run(seed):
        v = venue(seed=seed)
        v.submit(buy(0, quote_amount=D("300")))
        v.submit(OrderRequest(client_order_id=cid(1), symbol=SYMBOL, side="sell", type="market",
                              amount=D("1")))
        return [(t.price, t.amount, t.fees) for t in v.trades_since(symbol=SYMBOL).trades], v.wallet

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_a_paper_order_fills_exactly_as_the_engine_fills_it():
    v = venue()
    order = v.submit(buy(3, quote_amount=D("300")))
    expected = fill_market(Intent("buy", "market", quote_amount=D("300")), Wallet(quote=D("1000")), quote=None,
                           book=None, next_open=D("100"), rules=RULES, cfg=NO_REJECTS,
                           rng=random.Random(f"7:{T0}:3"), ts_ms=T0 + MINUTE, order_id=cid(3))
    assert (order.trades[0].price, order.trades[0].amount) == (expected.price, expected.amount)


def test_the_bot_prefix_of_a_client_id_does_not_change_the_fill():
    plain = venue().submit(buy(0, quote_amount=D("300")))
    prefixed = venue().submit(OrderRequest(client_order_id=client_order_id(bot_id=99, step_key=T0, n=0),
                                           symbol=SYMBOL, side="buy", type="market", quote_amount=D("300")))
    assert plain.trades[0].price == prefixed.trades[0].price


def test_submitting_the_same_client_id_again_never_places_a_second_order():
    v = venue()
    first = v.submit(buy(quote_amount=D("300")))
    again = v.submit(buy(quote_amount=D("300")))
    assert again == first
    assert len(v.trades_since(symbol=SYMBOL).trades) == 1 and v.wallet.base == first.filled


def test_an_exchange_rejection_is_a_rejected_order_with_a_reason():
    order = venue(cfg=FillConfig(reject_rate=D("1"))).submit(buy(quote_amount=D("300")))
    assert order.status == "rejected" and order.code == "exchange_rejected"
    assert order.message.startswith("Order rejected by the exchange")


def test_a_limit_rests_with_its_funds_reserved_then_fills_when_the_market_trades_through():
    v = venue()
    order = v.submit(OrderRequest(client_order_id=cid(0), symbol=SYMBOL, side="buy", type="limit",
                                  amount=D("2"), price=D("95")))
    assert order.status == "open" and order.filled == 0 and order.trades == ()
    assert v.wallet.quote_reserved == D("95") * 2 * D("1.001") and v.wallet.free_quote < D("1000")
    assert [o.client_order_id for o in v.open_orders()] == [cid(0)]

    assert v.advance([bar(2, 100, 101, 95, 99, v="1000")]) == []  # touched, not traded through
    assert v.fetch_order(symbol=SYMBOL, client_order_id=cid(0)).status == "open"

    [trade] = v.advance([bar(3, 99, 99, 94, 96, v="1000")])
    assert (trade.price, trade.amount, trade.liquidity) == (D("95"), D("2"), "maker")
    assert trade.fees == (Fee("USDT", D("0.190")),) and trade.ts_ms == T0 + 3 * MINUTE
    done = v.fetch_order(symbol=SYMBOL, client_order_id=cid(0))
    assert done.status == "filled" and done.filled == 2 and done.average_price == 95
    assert v.open_orders() == [] and v.wallet == Wallet(base=D("2"), quote=D("1000") - D("190") - D("0.190"))


def test_a_big_limit_fills_partially_over_several_candles():
    v = venue(quote="100000")
    v.submit(OrderRequest(client_order_id=cid(0), symbol=SYMBOL, side="buy", type="limit", amount=D("10"),
                          price=D("95")))
    v.advance([bar(2, 96, 96, 94, 95, v="12")])  # half of the range is below 95: 6 traded through
    part = v.fetch_order(symbol=SYMBOL, client_order_id=cid(0))
    assert part.status == "partially_filled" and part.filled == 6 and part.remaining == 4
    assert v.open_orders() == [part]
    v.advance([bar(3, 96, 96, 94, 95, v="12")])
    done = v.fetch_order(symbol=SYMBOL, client_order_id=cid(0))
    assert done.status == "filled" and done.filled == 10 and done.fees == (Fee("USDT", D("0.950")),)


def test_a_cancel_releases_the_reservation_and_a_second_cancel_changes_nothing():
    v = venue()
    placed = v.submit(OrderRequest(client_order_id=cid(0), symbol=SYMBOL, side="buy", type="limit",
                                   amount=D("2"), price=D("95")))
    cancelled = v.cancel(symbol=SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert cancelled.status == "cancelled" and v.wallet == Wallet(quote=D("1000")) and v.open_orders() == []
    assert v.cancel(symbol=SYMBOL, client_order_id=cid(0)) == cancelled
    assert v.advance([bar(3, 99, 99, 90, 91, v="1000")]) == []  # a cancelled order never fills
    with pytest.raises(OrderNotFound):
        v.cancel(symbol=SYMBOL, client_order_id=cid(9))


def test_orders_are_found_by_either_id_and_unknown_ones_are_none():
    v = venue()
    order = v.submit(buy(quote_amount=D("300")))
    assert v.fetch_order(symbol=SYMBOL, exchange_order_id=order.exchange_order_id) == order
    assert v.fetch_order(symbol=SYMBOL, client_order_id=cid(0), exchange_order_id=order.exchange_order_id) == order
    assert v.fetch_order(symbol=SYMBOL, client_order_id=cid(0), exchange_order_id="paper-999") is None
    assert v.fetch_order(symbol=SYMBOL, client_order_id=cid(5)) is None
    with pytest.raises(VenueError, match="name the order"):
        v.fetch_order(symbol=SYMBOL)


def test_a_marketable_limit_fills_as_taker_never_above_its_limit():
    order = venue().submit(OrderRequest(client_order_id=cid(0), symbol=SYMBOL, side="buy", type="limit",
                                        amount=D("1"), price=D("100.15")))
    assert order.status == "filled" and order.trades[0].liquidity == "taker"
    assert order.trades[0].price <= D("100.15") and order.amount == order.filled == 1


def test_trades_since_a_cursor_returns_each_trade_once_in_order():
    v = venue(quote="100000")
    v.submit(buy(0, amount=D("1")))
    first = v.trades_since(symbol=SYMBOL)
    assert [t.client_order_id for t in first.trades] == [cid(0)] and first.cursor == "1"
    assert v.trades_since(symbol=SYMBOL, cursor=first.cursor).trades == ()
    assert v.trades_since(symbol=SYMBOL, cursor=first.cursor).cursor == "1"
    v.submit(buy(1, amount=D("1")))
    v.submit(buy(2, amount=D("1")))
    page = v.trades_since(symbol=SYMBOL, cursor=first.cursor, limit=1)
    assert [t.client_order_id for t in page.trades] == [cid(1)]
    rest = v.trades_since(symbol=SYMBOL, cursor=page.cursor)
    assert [t.client_order_id for t in rest.trades] == [cid(2)] and rest.cursor == "3"
    assert [t.trade_id for t in v.trades_since(symbol=SYMBOL).trades] == ["1", "2", "3"]
    with pytest.raises(VenueError, match="bad trade cursor"):
        v.trades_since(symbol=SYMBOL, cursor="abc")


def test_another_symbol_is_refused():
    v = venue()
    with pytest.raises(UnknownSymbol, match="not ETH/USDT"):
        v.submit(OrderRequest(client_order_id=cid(0), symbol="ETH/USDT", side="buy", type="market",
                              amount=D("1")))
    with pytest.raises(UnknownSymbol):
        v.open_orders(symbol="ETH/USDT")


def test_what_the_venue_reports_always_follows_the_state_table():
    v = venue(quote="100000")
    request = OrderRequest(client_order_id=cid(0), symbol=SYMBOL, side="buy", type="limit", amount=D("10"),
                           price=D("95"))
    progress = apply_report(OrderProgress("new"), v.submit(request),
                            amount=request.amount)
    for i in range(2, 5):
        v.advance([bar(i, 96, 96, 94, 95, v="12")])
        progress = apply_report(progress, v.fetch_order(symbol=SYMBOL, client_order_id=cid(0)), amount=D("10"))
    assert progress.status == "filled"
    progress = apply_report(progress, v.cancel(symbol=SYMBOL, client_order_id=cid(0)), amount=D("10"))
    assert progress.status == "filled" and not progress.changed


def test_resting_orders_handed_over_keep_resting_and_fill():
    rest = RestingOrder(id=cid(0, step=T0 - MINUTE), side="sell", price=D("105"), amount=D("1"),
                        fee_rate=D("0.001"), created_ms=T0 - MINUTE)
    v = PaperVenue(symbol=SYMBOL, wallet=Wallet(base=D("1"), quote=D("0")), rules=RULES, cfg=NO_REJECTS, seed=1,
                   open_orders=[rest])
    assert v.wallet.free_base == 0 and [o.status for o in v.open_orders()] == ["open"]
    [trade] = v.advance([bar(1, 104, 106, 103, 105, v="100")])
    assert trade.side == "sell" and trade.price == 105 and v.resting == []
