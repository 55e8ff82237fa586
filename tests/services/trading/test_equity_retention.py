"""Equity history: a week at full detail, then the last, lowest and highest point of each hour."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.models import EquitySnapshot
from trading.selectors import bot_equity_curve
from trading.services.bots import bot_create
from trading.services.retention import equity_compact

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)


def _bot(owner, name):
    return bot_create(owner=owner, name=name, exchange="binance", symbol="BTC/USDT", strategy="dca",
                      params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("1000"))


def _minutes(bot, start: datetime, equities: list[Decimal]) -> None:
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(bot=bot, ts=start + timedelta(minutes=i), price=Decimal("100"), base=Decimal("0"),
                       quote=e, equity=e)
        for i, e in enumerate(equities))


def test_old_hours_keep_their_last_lowest_and_highest_points(alice, bob):
    a, b = _bot(alice, "a"), _bot(bob, "b")
    old_hour = NOW - timedelta(days=10)
    old_hour = old_hour.replace(minute=0)
    wave = [Decimal(1000) + Decimal(i % 7) for i in range(60)]
    wave[17] = Decimal("950.5")  # the hour's drawdown
    wave[41] = Decimal("1080.25")  # its high
    _minutes(a, old_hour, wave)
    _minutes(a, old_hour + timedelta(hours=1), wave)
    _minutes(b, old_hour, wave)
    recent = (NOW - timedelta(days=2)).replace(minute=0)
    _minutes(a, recent, wave)

    result = equity_compact(detail_days=7, window_days=30, now=NOW)

    assert result.deleted == 3 * (60 - 3)
    for bot, hours in ((a, [old_hour, old_hour + timedelta(hours=1)]), (b, [old_hour])):
        for hour in hours:
            kept = list(EquitySnapshot.objects.filter(bot=bot, ts__gte=hour, ts__lt=hour + timedelta(hours=1))
                        .order_by("ts").values_list("ts", "equity"))
            assert [e for _, e in kept] == [Decimal("950.5"), Decimal("1080.25"), wave[59]]
            assert kept[-1][0] == hour + timedelta(minutes=59)  # the hour still ends where it ended
    # the last week is untouched: every minute is still there
    assert EquitySnapshot.objects.filter(bot=a, ts__gte=recent).count() == 60
    curve = bot_equity_curve(bot=a)
    assert min(p.equity for p in curve) == Decimal("950.5") and max(p.equity for p in curve) == Decimal("1080.25")


def test_compaction_is_idempotent_and_leaves_sparse_history_alone(alice):
    a = _bot(alice, "a")
    start = (NOW - timedelta(days=20)).replace(minute=0)
    _minutes(a, start, [Decimal(1002), Decimal(1000), Decimal(1001)])  # high, low, last: nothing to drop
    _minutes(a, start + timedelta(days=1), [Decimal(1000 + i) for i in range(30)])

    first = equity_compact(detail_days=7, window_days=30, now=NOW)
    second = equity_compact(detail_days=7, window_days=30, now=NOW)

    assert first.deleted == 30 - 2  # lowest and last (also the highest) remain
    assert second.deleted == 0
    assert EquitySnapshot.objects.filter(bot=a).count() == 3 + 2


def test_history_beyond_the_window_waits_for_a_bigger_window(alice):
    a = _bot(alice, "a")
    ancient = (NOW - timedelta(days=60)).replace(minute=0)
    _minutes(a, ancient, [Decimal(1000 + i) for i in range(10)])

    assert equity_compact(detail_days=7, window_days=30, now=NOW).deleted == 0
    assert equity_compact(detail_days=7, window_days=90, now=NOW).deleted == 8


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        equity_compact(detail_days=0, window_days=30)


def test_beat_runs_it_nightly(db):
    from django_celery_beat.models import PeriodicTask

    from trading.services.schedules import periodic_tasks_ensure

    periodic_tasks_ensure()
    task = PeriodicTask.objects.get(task="trading.compact_equity")
    assert task.enabled and task.crontab is not None
