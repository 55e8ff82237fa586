"""Pages and the CSV show a bot's numbers at its market's precision (the Binance emulator's: BTC/USDT price
0.01 and amount 0.00001, ETH/BTC price 0.00001 and amount 0.0001) and its money in the quote currency's
decimals (2 for USDT, 8 for BTC); the API keeps exact normalized strings."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.emulator.fixtures import *  # noqa: F403
from trading.models import Fill, Order
from trading.services.bots import bot_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]


def _bot_with_a_fill(owner, symbol, price, amount, balance="1000"):
    bot = bot_create(owner=owner, name=symbol, exchange="binance", symbol=symbol, strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal(balance))
    order = Order.objects.create(bot=bot, client_id="t:1", side="buy", type="market", amount=Decimal(amount),
                                 status="filled", filled=Decimal(amount))
    Fill.objects.create(bot=bot, order=order, side="buy", price=Decimal(price), amount=Decimal(amount),
                        fee=Decimal("0.000076923076923076"), fee_currency=symbol.split("/")[0],
                        slippage=Decimal("0"), liquidity="taker", ts=timezone.now())
    return bot


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_the_bot_page_shows_prices_amounts_and_money_at_the_markets_precision(alice):
    bot = _bot_with_a_fill(alice, "BTC/USDT", "65000.014999999", "0.076923076923076923")
    html = _client(alice).get(f"/bots/{bot.pk}/").content.decode()
    assert "65000.01</td>" in html and "0.07692</td>" in html  # price step 0.01, amount step 0.00001
    assert "5,000.00</td>" in html  # cost in USDT cents
    assert "0.000000000000000000" not in html and "E-18" not in html

    eth = _bot_with_a_fill(alice, "ETH/BTC", "0.053851234", "1.23456789", balance="1")
    html = _client(alice).get(f"/bots/{eth.pk}/").content.decode()
    assert "0.05385</td>" in html and "1.2346</td>" in html
    assert "0.06648300</td>" in html  # cost in BTC: 8 decimals


def test_the_csv_shows_the_markets_precision_and_never_an_exponent(alice, api):
    bot = _bot_with_a_fill(alice, "BTC/USDT", "65000.014999999", "0.076923076923076923")
    r = api(alice).get(f"/api/bots/{bot.pk}/trades.csv")
    row = next(csv.DictReader(io.StringIO(r.content.decode())))
    assert (row["price"], row["amount"], row["cost"], row["slippage"]) == ("65000.01", "0.07692", "5000.00", "0")
    assert row["fee"] == "0.000076923076923076"  # fees stay exact


def test_the_api_keeps_exact_normalized_decimal_strings(alice, api):
    bot = _bot_with_a_fill(alice, "BTC/USDT", "65000.014999999", "0.076923076923076923")
    trade = api(alice).get(f"/api/bots/{bot.pk}/trades/").json()["results"][0]
    assert trade["price"] == "65000.014999999" and trade["amount"] == "0.076923076923076923"
    assert trade["slippage"] == "0"
    body = api(alice).get(f"/api/bots/{bot.pk}/").json()
    assert body["starting_balance"] == "1000" and body["base_reserved"] == "0"
