"""The daily summary: users who chose "daily_summary" get one DingTalk card a day about their bots."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from notifications.models import Outbox
from notifications.services import channel_create, outbox_deliver
from risk.models import RiskEvent
from tests.notifications.dingtalk_standin import SECRET
from trading.models import Bot, EquitySnapshot, Fill, Order
from trading.services.bots import bot_create

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)


def _bot(owner, name, *, status=Bot.Status.RUNNING, balance="1000"):
    bot = bot_create(owner=owner, name=name, exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal(balance))
    Bot.objects.filter(pk=bot.pk).update(status=status, created_at=NOW - timedelta(days=3))
    bot.refresh_from_db()
    return bot


def _equity(bot, ts, equity):
    EquitySnapshot.objects.create(bot=bot, ts=ts, price=Decimal("100"), base=Decimal("0"), quote=Decimal(equity),
                                  equity=Decimal(equity))


def _fill(bot, ts, fee="0.25"):
    order = Order.objects.create(bot=bot, client_id=f"{ts.timestamp()}", side="buy", type="market",
                                 amount=Decimal("0.1"), filled=Decimal("0.1"), status="filled")
    Fill.objects.create(bot=bot, order=order, side="buy", price=Decimal("100"), amount=Decimal("0.1"),
                        fee=Decimal(fee), fee_currency="USDT", liquidity="taker", ts=ts)


@pytest.fixture
def summary_channel(alice, standin, allow_local):
    return channel_create(owner=alice, kind="dingtalk", name="daily", webhook_url=standin.url, secret=SECRET,
                          events=["daily_summary"])


def test_the_summary_lists_each_bots_day_and_reaches_dingtalk(alice, summary_channel, standin, enqueued):
    from trading.services.summary import daily_summaries_send

    winner, loser = _bot(alice, "grid-winner"), _bot(alice, "dca-loser", status=Bot.Status.HALTED)
    _equity(winner, NOW - timedelta(hours=30), "1000")  # the equity when the day began
    _equity(winner, NOW - timedelta(hours=1), "1012.5")
    _equity(loser, NOW - timedelta(hours=25), "1000")
    _equity(loser, NOW - timedelta(hours=2), "948.70")
    _fill(winner, NOW - timedelta(hours=5))
    _fill(winner, NOW - timedelta(hours=4))
    _fill(winner, NOW - timedelta(days=2))  # yesterday's: not in this summary
    event = RiskEvent.objects.create(user=alice, bot=loser, code="daily_loss", severity="critical", message="halted")
    RiskEvent.objects.filter(pk=event.pk).update(created_at=NOW - timedelta(hours=3))

    assert daily_summaries_send(now=NOW) == 1
    [row] = Outbox.objects.all()
    assert row.event == "daily_summary" and row.channel == summary_channel
    assert outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at) == "ok"
    card = standin.received[0]["actionCard"]
    assert card["title"] == "Daily summary: −38.80 USDT across 2 bot(s)"
    assert card["singleURL"] == "https://trade.example.com/bots/"
    text = card["text"]
    assert "**grid-winner** (BTC/USDT, running): +12.50 USDT (+1.25%), 2 fill(s), fees 0.50" in text
    assert "**dca-loser** (BTC/USDT, halted): −51.30 USDT (−5.13%), 0 fill(s), fees 0.00, 1 risk event(s)" in text
    assert "1 risk event(s)" in text
    assert text.index("dca-loser") < text.index("grid-winner")  # the worst day first


def test_money_is_shown_at_each_quote_currencys_decimals_and_never_added_across_currencies(alice):
    from trading.services.summary import daily_summary_compose

    usdt = _bot(alice, "usdt")
    btc = bot_create(owner=alice, name="eth-btc", exchange="binance", symbol="ETH/BTC", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "0.001"}, starting_balance=Decimal("0.5"))
    Bot.objects.filter(pk=btc.pk).update(created_at=NOW - timedelta(days=3))
    _equity(usdt, NOW - timedelta(hours=30), "1000")
    _equity(usdt, NOW - timedelta(hours=1), "1012.5")
    _equity(btc, NOW - timedelta(hours=30), "0.5")
    _equity(btc, NOW - timedelta(hours=1), "0.50012345678")
    title, text = daily_summary_compose(user=alice, since=NOW - timedelta(days=1), until=NOW)
    assert title == "Daily summary: +0.00012346 BTC, +12.50 USDT across 2 bot(s)"  # not "+12.50" for both
    assert "**eth-btc** (ETH/BTC, stopped): +0.00012346 BTC (+0.02%), 0 fill(s), fees 0.00000000" in text
    assert "**usdt** (BTC/USDT, running): +12.50 USDT (+1.25%)" in text


def test_only_users_who_asked_get_one_and_only_once_a_day(alice, bob, summary_channel, standin, enqueued):
    from trading.services.summary import daily_summaries_send

    channel_create(owner=bob, kind="dingtalk", name="fills only", webhook_url=standin.url, events=["fills"])
    _bot(alice, "a")
    _bot(bob, "b")
    assert daily_summaries_send(now=NOW) == 1
    assert daily_summaries_send(now=NOW + timedelta(minutes=30)) == 1  # beat ran twice: still one message
    assert list(Outbox.objects.values_list("user__username", flat=True)) == ["alice"]
    assert daily_summaries_send(now=NOW + timedelta(days=1)) == 1
    assert Outbox.objects.count() == 2


def test_a_user_without_bots_gets_no_empty_summary(alice, summary_channel, enqueued):
    from trading.services.summary import daily_summaries_send

    assert daily_summaries_send(now=NOW) == 0
    assert Outbox.objects.count() == 0


def test_beat_sends_it_every_day(db):
    from django_celery_beat.models import PeriodicTask

    from trading.services.schedules import periodic_tasks_ensure

    periodic_tasks_ensure()
    task = PeriodicTask.objects.get(task="trading.daily_summary")
    assert task.enabled and (task.crontab.minute, task.crontab.hour) == ("5", "0")
