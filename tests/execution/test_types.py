"""The venue's data types: an order request no venue would take is refused with the field named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.execution.types import Fee, InvalidRequest, OrderRequest, VenueOrder, VenueTrade

D = Decimal


def req(**kw) -> OrderRequest:
    return OrderRequest(**{"client_order_id": "1700000040000:0", "symbol": "BTC/USDT", "side": "buy",
                           "type": "market", "quote_amount": D("10"), **kw})


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"client_order_id": "has space"}, "client_order_id", "must match"),
    ({"client_order_id": "x" * 37}, "client_order_id", "must match"),
    ({"client_order_id": ""}, "client_order_id", "must match"),
    ({"symbol": ""}, "symbol", "is required"),
    ({"side": "short"}, "side", "must be buy or sell"),
    ({"type": "stop"}, "type", "must be market or limit"),
    ({"amount": D("1")}, "amount", "exactly one of amount or quote_amount"),
    ({"quote_amount": None}, "amount", "exactly one of amount or quote_amount"),
    ({"quote_amount": D("-1")}, "quote_amount", "positive Decimal"),
    ({"quote_amount": 10.0}, "quote_amount", "positive Decimal"),
    ({"quote_amount": D("NaN")}, "quote_amount", "positive Decimal"),
    ({"price": D("100")}, "price", "a market order has no price"),
    ({"type": "limit", "quote_amount": None, "amount": D("1")}, "price", "is required"),
    ({"type": "limit", "quote_amount": None, "amount": D("0"), "price": D("1")}, "amount", "positive Decimal"),
    ({"type": "limit", "amount": D("1"), "price": D("1")}, "quote_amount", "sized by amount"),
])
def test_a_request_no_venue_would_take_is_refused_naming_the_field(changes, field, message):
    with pytest.raises(InvalidRequest, match=message) as err:
        req(**changes)
    assert err.value.field == field


def test_good_requests_are_taken_as_they_are():
    assert req().quote_amount == D("10")
    limit = req(type="limit", quote_amount=None, amount=D("0.5"), price=D("30000"), client_order_id="16-17:0")
    assert (limit.amount, limit.price) == (D("0.5"), D("30000"))


def test_a_venue_order_knows_what_is_left_and_whether_it_is_final():
    order = VenueOrder(client_order_id="a:0", exchange_order_id="9", symbol="BTC/USDT", side="buy", type="limit",
                       status="partially_filled", amount=D("2"), price=D("10"), filled=D("0.5"),
                       fees=(Fee("BNB", D("0.0001")),))
    assert order.remaining == D("1.5") and not order.is_terminal
    market = VenueOrder(client_order_id="a:1", exchange_order_id=None, symbol="BTC/USDT", side="buy",
                        type="market", status="unknown", amount=None, price=None)
    assert market.remaining is None and not market.is_terminal and market.filled == 0
    assert VenueOrder(**{**order.__dict__, "status": "cancelled"}).is_terminal


def test_a_trade_fee_may_be_in_any_currency():
    trade = VenueTrade(trade_id="1", client_order_id=None, exchange_order_id="9", symbol="BTC/USDT", side="sell",
                       price=D("30000"), amount=D("0.1"), fees=(Fee("BNB", D("0.002")), Fee("USDT", D("1"))),
                       liquidity=None, ts_ms=1_700_000_000_000)
    assert trade.cost == D("3000.0") and {f.currency for f in trade.fees} == {"BNB", "USDT"}
