"""The ccxt venue on the emulator: the market's precision and minimums and the bot's allocation are applied
before anything is sent, bots on one key share one client (one rate limiter), and no secret is ever logged."""

import logging
from decimal import Decimal

import pytest

from tests.emulator.binance import SECRET
from tests.live.test_live_faults import venue
from trading.execution.ccxt_venue import CcxtVenue, SubmitNotAllowed
from trading.execution.routing import live_key_for, venue_for_cancel
from trading.execution.types import OrderRequest

pytestmark = pytest.mark.django_db
D = Decimal


def req(n=0, **kw):
    base = {"client_order_id": f"t-1:{n}", "symbol": "BTC/USDT", "side": "buy", "type": "market",
            "amount": D("0.06")}
    return OrderRequest(**{**base, **kw})


def test_amounts_go_out_at_the_markets_precision(live_bot, emu):
    placed = venue(live_bot).submit(req(amount=D("0.0623456789")))
    assert emu.orders_received[-1].quantity == "0.06234" and placed.filled == D("0.06234")


def test_below_the_minimum_notional_nothing_is_sent(live_bot, emu):
    v = CcxtVenue(key=live_key_for(live_bot), prices={"BTC/USDT": D("100")})
    refused = v.submit(req(amount=D("0.001")))  # 0.10 USDT, the market wants 5
    assert refused.status == "rejected" and refused.code == "below_min_notional"
    assert emu.orders_received == []


def test_beyond_the_live_allocation_nothing_is_sent(live_bot, emu):
    v = CcxtVenue(key=live_key_for(live_bot), quote_free=D("50"), prices={"BTC/USDT": D("100")})
    refused = v.submit(req(amount=D("1")))
    assert refused.status == "rejected" and refused.code == "allocation_exceeded" and "50" in refused.message
    assert emu.orders_received == []


def test_bots_on_one_key_share_one_client_and_its_rate_limiter(alice, bob, make_live_bot, emu):
    one, two = make_live_bot(alice, name="one"), make_live_bot(alice, name="two")
    assert live_key_for(one) == live_key_for(two)
    assert venue(one).entry is venue(two).entry
    assert venue(one).entry.client.enableRateLimit
    venue(one).balance()  # a request through one bot's venue is spaced against the other's next one
    assert venue(two).entry.client.lastRestRequestTimestamp > 0
    other = make_live_bot(bob, name="bob's")  # another key: its own client and limiter
    assert venue(other).entry is not venue(one).entry and venue(other).entry.client is not venue(one).entry.client


def test_a_cancel_only_venue_refuses_to_submit(live_bot, emu):
    with pytest.raises(SubmitNotAllowed):
        venue_for_cancel(live_bot).submit(req())
    assert emu.orders_received == []


def test_no_secret_reaches_the_logs_when_the_exchange_misbehaves(live_bot, emu, caplog):
    caplog.set_level(logging.DEBUG)
    emu.fail("late_answer", path="/api/v3/order", times=1, seconds=3)
    lost = venue(live_bot).submit(req())
    emu.fail("server_error", path="/api/v3/order", times=1)
    venue(live_bot).submit(req(n=1))
    assert lost.status == "unknown"
    assert SECRET not in caplog.text and "signature=" not in caplog.text
