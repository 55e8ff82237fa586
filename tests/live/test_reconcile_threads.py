"""Reconciliation over several keys in parallel threads (each with its own database connection): the rows
must be committed for the threads to see them, hence a transactional test."""

from decimal import Decimal

import pytest

from tests.live.test_live_stop import resting
from trading.execution.reconcile import reconcile_live
from trading.models import Fill

pytestmark = pytest.mark.django_db(transaction=True)


def test_keys_reconciled_in_parallel_threads_each_take_in_their_fills(alice, bob, make_live_bot, emu, settings):
    bots = [make_live_bot(alice, name="a"), make_live_bot(bob, name="b")]
    orders = [resting(b, price="95", step=i + 1) for i, b in enumerate(bots)]
    settings.LIVE_RECONCILE_WORKERS = 4
    emu.set_price("BTC/USDT", "94.90", "94.95")
    summary = reconcile_live()
    assert summary.groups == 2 and summary.fills == 2
    for order in orders:
        order.refresh_from_db()
        assert order.status == "filled" and Fill.objects.get(order=order).amount == Decimal("0.1")
