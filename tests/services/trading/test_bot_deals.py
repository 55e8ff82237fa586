"""Positions and deals from a bot's fills: the open position (entry, size, unrealized P&L, duration) and
the closed trades (entry, exit, P&L, duration), on the bot page's selector and GET /api/bots/{id}/deals/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from trading.models import Bot, Fill, Order
from trading.selectors import bot_deals, bot_performance
from trading.services.bots import bot_create

pytestmark = pytest.mark.django_db
D = Decimal


def _fill(bot, side, price, amount, at, fee="0"):
    order = Order.objects.create(bot=bot, client_id=f"t:{side}:{at.timestamp()}", side=side, type="market",
                                 amount=D(amount), status="filled", filled=D(amount))
    return Fill.objects.create(bot=bot, order=order, side=side, price=D(price), amount=D(amount), fee=D(fee),
                               fee_currency="USDT", liquidity="taker", ts=at)


@pytest.fixture
def traded(alice):
    """Bought 0.1 BTC at 60,000, sold it at 63,000 two hours later; then bought 0.05 at 64,000, still held."""
    bot = bot_create(owner=alice, name="Deals", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("10000"))
    t0 = timezone.now() - timedelta(hours=5)
    _fill(bot, "buy", "60000", "0.1", t0, fee="6")
    _fill(bot, "sell", "63000", "0.1", t0 + timedelta(hours=2), fee="6.3")
    _fill(bot, "buy", "64000", "0.05", t0 + timedelta(hours=3), fee="3.2")
    quote = D("10000") - D("6000") - D("6") + D("6300") - D("6.3") - D("3200") - D("3.2")
    Bot.objects.filter(pk=bot.pk).update(base=D("0.05"), quote=quote, last_price=D("66000"))
    bot.refresh_from_db()
    return bot, t0


def test_a_round_trip_is_a_closed_trade_with_its_pnl_and_duration(traded):
    bot, t0 = traded
    deals = bot_deals(bot=bot)
    assert deals["closed_count"] == 1
    (trade,) = deals["closed_trades"]
    assert (trade["entry_price"], trade["exit_price"], trade["amount"]) == (D("60000"), D("63000"), D("0.1"))
    assert trade["pnl"] == D("300") - D("6") - D("6.3")  # net of both fees
    assert trade["duration_seconds"] == 7200
    assert abs((trade["entry_at"] - t0).total_seconds()) < 0.01
    assert deals["realized_pnl"] == trade["pnl"]


def test_the_open_position_has_entry_size_unrealized_pnl_and_duration(traded):
    bot, t0 = traded
    op = bot_deals(bot=bot, now=t0 + timedelta(hours=5))["open_position"]
    assert (op["amount"], op["entry_price"], op["last_price"]) == (D("0.05"), D("64000"), D("66000"))
    assert op["unrealized_pnl"] == D("100") and op["value"] == D("3300")
    assert op["duration_seconds"] == 7200  # opened three hours after t0
    assert op["unrealized_pnl"] == bot_performance(bot=bot)["position"]["unrealized_pnl"]  # one number, one meaning


def test_the_closed_trades_agree_with_the_closed_trades_count(traded):
    bot, _ = traded
    assert bot_deals(bot=bot)["closed_count"] == bot_performance(bot=bot)["closed_trades"]


def test_a_flat_bot_has_no_open_position(alice):
    bot = bot_create(owner=alice, name="Flat", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=D("1000"))
    assert bot_deals(bot=bot) == {"open_position": None, "closed_count": 0, "closed_trades": [],
                                  "realized_pnl": D(0)}


def test_the_deals_api_answers_exact_strings_and_hides_other_users_bots(traded, api, alice, bob):
    bot, _ = traded
    r = api(alice).get(f"/api/bots/{bot.pk}/deals/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["open_position"]["amount"] == "0.05" and body["open_position"]["unrealized_pnl"] == "100"
    assert body["closed_trades"][0]["pnl"] == "287.7" and body["closed_trades"][0]["duration_seconds"] == 7200
    assert api(alice).get(f"/api/bots/{bot.pk}/deals/", {"limit": "0"}).status_code == 400
    assert api(bob).get(f"/api/bots/{bot.pk}/deals/").status_code == 404


def test_dust_below_one_amount_step_is_not_an_open_position(traded):
    from trading.models import Market

    bot, _ = traded
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT", amount_step=D("0.00001"))
    Bot.objects.filter(pk=bot.pk).update(base=D("0.000004"))
    bot.refresh_from_db()
    assert bot_deals(bot=bot)["open_position"] is None
    Bot.objects.filter(pk=bot.pk).update(base=D("0.00001"))
    bot.refresh_from_db()
    assert bot_deals(bot=bot)["open_position"]["amount"] == D("0.00001")
