"""The bot list answers in a fixed number of queries however many bots there are, without reading the
strategies' state (a JSON window of candles per bot that the list does not show)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trading.models import Bot
from trading.services.bots import bot_create

pytestmark = pytest.mark.django_db


def _bots(owner, n):
    for i in range(n):
        bot = bot_create(owner=owner, name=f"B{i}", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                         params={}, starting_balance=Decimal("1000"))
        Bot.objects.filter(pk=bot.pk).update(state={"closes": [30000.5] * 200})


def _list(api, user):
    with CaptureQueriesContext(connection) as queries:
        r = api(user).get("/api/bots/")
    assert r.status_code == 200
    return r.json(), [q["sql"] for q in queries.captured_queries]


def test_the_list_reads_no_state_and_the_same_queries_for_two_or_twelve_bots(api, alice, bob):
    _bots(alice, 2)
    _bots(bob, 12)
    few, few_sql = _list(api, alice)
    many, many_sql = _list(api, bob)
    assert len(few) == 2 and len(many) == 12
    assert len(few_sql) == len(many_sql), many_sql
    bot_selects = [sql for sql in many_sql if 'FROM "trading_bot"' in sql]
    assert bot_selects and not any('"trading_bot"."state"' in sql for sql in bot_selects), bot_selects
    assert "state" not in many[0] and many[0]["health"]["state"]  # the answer is whole without it
