"""Fees charged in a third currency (an account that pays Binance's fees in BNB): the live wallet stays equal to
the exchange's base and quote, each fill keeps its BNB fee and its value in quote at the BNB/USDT price when it
filled, and the bot's P&L counts it; a fee that cannot be valued says so and is never dropped."""

import time
from decimal import Decimal

import pytest

from tests.live.conftest import live_tick
from trading.execution import ccxt_venue
from trading.execution.ccxt_venue import CcxtVenue
from trading.execution.reconcile import reconcile_live
from trading.execution.routing import live_key_for
from trading.execution.types import Fee, VenueTrade
from trading.models import Bot, Fill, Order
from trading.selectors import bot_performance, portfolio_for

pytestmark = pytest.mark.django_db
D = Decimal
BNB_PRICE = D("600.00")  # the emulator's BNB/USDT mid


@pytest.fixture
def bnb_bot(emu, make_live_bot, alice):
    emu.list_market("BNB/USDT")  # listed before our client loads the exchange's markets
    emu.set_balance("BNB", "1")
    emu.pay_fees_in_bnb()
    return make_live_bot(alice)


def the_fill(bot) -> Fill:
    order = Order.objects.filter(bot=bot).exclude(client_id__startswith="rec:").get()
    return Fill.objects.get(order=order)


def test_a_fee_paid_in_bnb_is_recorded_valued_in_quote_and_counted_in_the_pnl(bnb_bot, emu, api, alice):
    live_tick()  # the DCA bot buys 10 USDT worth
    fill = the_fill(bnb_bot)
    cost = fill.price * fill.amount
    assert fill.fee_currency == "BNB" and fill.fee == (cost * D("0.00075") / BNB_PRICE).quantize(D("1e-8"))
    assert fill.fee_quote == fill.fee * BNB_PRICE and "600" in fill.fee_note and "BNB/USDT" in fill.fee_note
    # the wallet is what the exchange shows: the whole amount bought (no fee shaved off the base), the cost
    bot = Bot.objects.get(pk=bnb_bot.pk)
    assert bot.base == fill.amount and bot.base == sum(emu.balance("BTC")) - D("0.5")
    assert bot.quote == D("500") - cost and bot.quote - D("500") == sum(emu.balance("USDT")) - D("10000")
    assert sum(emu.balance("BNB")) == D("1") - fill.fee  # the fee came out of the account's BNB
    reconcile_live(force=True)  # and the balance check finds no drift
    assert Bot.objects.get(pk=bot.pk).status == "running"

    perf = bot_performance(bot=bot)
    pos = perf["position"]
    assert perf["fees_paid"] == fill.fee_quote and pos["fees_paid"] == fill.fee_quote
    assert pos["fees_outside_wallet"] == fill.fee_quote and pos["fees_not_valued"] == []
    assert pos["fees"] == [{"currency": "BNB", "amount": fill.fee, "value": fill.fee_quote}]
    last = pos["last_price"]
    assert pos["equity"] == bot.quote + bot.base * last - fill.fee_quote  # the P&L includes the BNB fee
    # a live bot's record starts at its promotion, against its allocation (500), not the paper balance
    assert perf["starting_balance"] == D("500")
    assert pos["realized_pnl"] + pos["unrealized_pnl"] == pos["equity"] - perf["starting_balance"]
    row = next(r for r in portfolio_for(alice)["bots"] if r["bot"].pk == bot.pk)
    assert row["equity"] == pos["equity"]

    client = api(alice)
    trade = client.get(f"/api/bots/{bot.pk}/trades/").json()["results"][0]
    assert trade["fee_currency"] == "BNB" and D(trade["fee_quote"]) == fill.fee_quote and trade["fee_note"]
    body = client.get(f"/api/bots/{bot.pk}/performance/").json()
    assert D(body["fees_paid"]) == fill.fee_quote and body["position"]["fees"][0]["currency"] == "BNB"


def test_a_bnb_fee_whose_price_cannot_be_read_is_kept_and_said_to_be_not_valued(bnb_bot, emu, api, alice):
    emu.fail("server_error", path="/api/v3/ticker/24hr")  # BNB/USDT's price cannot be read now
    live_tick()
    fill = the_fill(bnb_bot)
    assert fill.fee_currency == "BNB" and fill.fee > 0
    assert fill.fee_quote is None and fill.fee_note.startswith("not valued: the BNB/USDT price could not be read")
    bot = Bot.objects.get(pk=bnb_bot.pk)
    pos = bot_performance(bot=bot)["position"]
    assert pos["fees_not_valued"] == [{"currency": "BNB", "amount": fill.fee}]
    assert pos["fees"] == [{"currency": "BNB", "amount": fill.fee, "value": None}]
    assert pos["fees_paid"] == 0 and pos["equity"] == bot.quote + bot.base * pos["last_price"]
    body = api(alice).get(f"/api/bots/{bot.pk}/performance/").json()
    assert [(f["currency"], D(f["amount"])) for f in body["fees_not_valued"]] == [("BNB", fill.fee)]
    trade = api(alice).get(f"/api/bots/{bot.pk}/trades/").json()["results"][0]
    assert trade["fee_quote"] is None and trade["fee_note"].startswith("not valued")


def test_an_older_fill_is_valued_at_the_bnb_candle_of_its_minute(bnb_bot, emu, monkeypatch):
    monkeypatch.setattr(ccxt_venue, "FRESH_TRADE_MS", 0)  # every trade counts as old: the 1-minute candle
    live_tick()
    fill = the_fill(bnb_bot)
    assert fill.fee_quote == fill.fee * BNB_PRICE and "1-minute candle" in fill.fee_note
    assert emu.count("/api/v3/klines") >= 1


def test_an_account_without_enough_bnb_pays_in_the_usual_currency(bnb_bot, emu):
    emu.set_balance("BNB", "0")
    live_tick()
    fill = the_fill(bnb_bot)
    assert fill.fee_currency == "BTC" and fill.fee == fill.amount * D("0.001") and fill.fee_quote == fill.fee * fill.price
    bot = Bot.objects.get(pk=bnb_bot.pk)
    assert bot.base == fill.amount - fill.fee == sum(emu.balance("BTC")) - D("0.5")
    assert bot_performance(bot=bot)["position"]["fees_outside_wallet"] == 0


def test_fees_of_a_market_order_in_several_trades_are_valued_with_one_price_request(bnb_bot, emu):
    emu.set_depth("BTC/USDT", "0.04")
    before = emu.count("/api/v3/ticker/24hr")
    live_tick()
    order = Order.objects.filter(bot=bnb_bot).exclude(client_id__startswith="rec:").get()
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == 3 and {f.fee_currency for f in fills} == {"BNB"}
    assert all(f.fee_quote == f.fee * BNB_PRICE for f in fills)
    assert emu.count("/api/v3/ticker/24hr") - before == 1
    pos = bot_performance(bot=Bot.objects.get(pk=bnb_bot.pk))["position"]
    assert pos["fees_outside_wallet"] == sum(f.fee_quote for f in fills)


def _bnb_fee_trade(symbol: str, fee: str) -> VenueTrade:
    return VenueTrade(trade_id="77", client_order_id=None, exchange_order_id=None, symbol=symbol, side="buy",
                      price=D("0.00125"), amount=D("1"), fees=(Fee("BNB", D(fee)),), liquidity="taker",
                      ts_ms=int(time.time() * 1000))


def test_a_bnb_fee_on_a_pair_without_a_bnb_market_in_its_quote_is_valued_through_usdt(live_bot, emu):
    """LTC/BTC pays its fee in BNB; the exchange lists no BNB/BTC, so BNB/USDT (600) over BTC/USDT (100)."""
    emu.list_market("BNB/USDT")
    emu.set_price("BTC/USDT", "99.99", "100.01")  # last 100
    venue = CcxtVenue(key=live_key_for(live_bot))
    value, note = venue.fee_values([_bnb_fee_trade("LTC/BTC", "0.001")], base="LTC", quote="BTC")["77"]
    assert value == D("0.001") * BNB_PRICE / D("100")  # 0.006 BTC
    assert "through USDT" in note and "BNB/USDT 600" in note and "BTC 100 USDT" in note


def test_a_bnb_fee_with_no_way_to_the_quote_is_said_to_be_not_valued(live_bot, emu):
    venue = CcxtVenue(key=live_key_for(live_bot))  # BNB is not listed against anything
    value, note = venue.fee_values([_bnb_fee_trade("LTC/BTC", "0.001")], base="LTC", quote="BTC")["77"]
    assert value is None and note == "not valued: binance lists no BNB/BTC market, nor a price through USDT"


def test_the_daily_loss_breaker_counts_the_bnb_fees(bnb_bot, emu, alice):
    """The wallet alone has not lost anything today; the BNB fee it paid (valued in USDT) is the loss that
    reaches a tight daily-loss limit, so the risk monitor halts (and demotes) the bot."""
    from django.utils import timezone

    from risk.models import RiskPolicy
    from trading.execution.live_orders import live_fees_outside
    from trading.execution.monitor import risk_monitor_run
    from trading.price_selectors import tickers_latest

    live_tick()
    fill = the_fill(bnb_bot)
    bot = Bot.objects.get(pk=bnb_bot.pk)
    assert fill.fee_quote > 0 and live_fees_outside(bot) == fill.fee_quote
    RiskPolicy.objects.create(scope="bot", bot=bot, daily_loss_pct=D("0.001"))  # 0.001 % of ~500 = 0.005 USDT
    assert fill.fee_quote / (bot.quote + bot.base * fill.price) * 100 > D("0.001")
    last = tickers_latest(exchange="binance", symbols=["BTC/USDT"])["BTC/USDT"].last
    wallet_now = bot.quote + bot.base * last  # the day started right here: without the fee, no loss at all
    Bot.objects.filter(pk=bot.pk).update(state={**bot.state, "risk": {
        "day": timezone.now().strftime("%Y-%m-%d"), "day_start_equity": str(wallet_now),
        "peak_equity": str(wallet_now)}})
    assert bot.pk in risk_monitor_run()["halted"]
    halted = Bot.objects.get(pk=bot.pk)
    assert halted.status == "halted" and "Daily loss" in halted.halt_reason and halted.mode == "paper"


def test_the_bnb_fee_total_is_kept_for_the_live_bot_and_a_paper_bot_counts_none(bnb_bot, emu, alice):
    from trading.execution.live_orders import live_fees_outside

    live_tick()
    bot = Bot.objects.get(pk=bnb_bot.pk)
    assert live_fees_outside(bot) == the_fill(bot).fee_quote
    Bot.objects.filter(pk=bot.pk).update(mode="paper")
    assert live_fees_outside(Bot.objects.get(pk=bot.pk)) == 0
