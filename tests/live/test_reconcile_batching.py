"""Reconciliation is batched per exchange key and symbol, not per order, and runs on the beat every
LIVE_RECONCILE_SECONDS (10 s by default). Counted on the Binance emulator's own request log."""

import pytest

from tests.live.test_live_stop import resting
from trading.execution.reconcile import reconcile_live
from trading.models import Bot

pytestmark = pytest.mark.django_db


def test_one_cycle_asks_once_per_key_and_symbol_whatever_the_number_of_orders(alice, make_live_bot, emu):
    one, two = make_live_bot(alice, name="one"), make_live_bot(alice, name="two")  # one key, one symbol
    orders = [resting(Bot.objects.get(pk=b.pk), price=p, step=s)
              for b, p, s in ((one, "95", 1), (one, "94", 2), (two, "93", 3), (two, "92", 4))]
    before = {what: emu.count(*what) for what in (("/api/v3/openOrders", "GET"), ("/api/v3/order", "GET"),
                                                  ("/api/v3/myTrades", "GET"))}
    reconcile_live()
    spent = {what[0]: emu.count(*what) - n for what, n in before.items()}
    # four open orders, two bots: one open-orders list, no per-order lookup (all still open), one trade page
    assert spent == {"/api/v3/openOrders": 1, "/api/v3/order": 0, "/api/v3/myTrades": 1}, spent
    assert all(o.status == "open" for o in orders)


def test_the_beat_reconciles_every_ten_seconds(db, settings):
    from django_celery_beat.models import PeriodicTask

    from trading.services.schedules import periodic_tasks_ensure

    assert settings.LIVE_RECONCILE_SECONDS == 10
    periodic_tasks_ensure()
    task = PeriodicTask.objects.get(task="trading.reconcile_live")
    assert task.enabled and (task.interval.every, task.interval.period) == (10, "seconds")
