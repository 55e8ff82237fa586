"""Idempotency per (bot, tick): a retried task, a crashed worker or two worker processes on the same tick
never fill twice."""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import DatabaseError, connection

from tests.bots_support import use_replay, write_recording
from trading.models import Bot, Fill, Order
from trading.services import tick_writes
from trading.services.bots import bot_create, bot_start
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def recording(settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return tmp_path


def _buyers(owner, n: int) -> list[Bot]:
    """DCA bots that buy on their first evaluated candle, with no random exchange rejections."""
    out = []
    for i in range(n):
        bot = bot_create(owner=owner, name=f"dca {i}", exchange="binance", symbol="BTC/USDT", strategy="dca",
                         params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("100"),
                         fill_overrides={"reject_rate": "0"}, seed=i)
        out.append(bot_start(bot=bot, actor=owner))
    return out


def _poll() -> int:
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    return int(result.ticks[0].received_at * 1000)


@pytest.mark.django_db
def test_the_same_tick_processed_twice_fills_once(alice, recording):
    bots = _buyers(alice, 3)
    key = _poll()
    first = tick_run(exchange="binance", tick_key=key)
    assert first.evaluated == 3 and first.fills == 3
    again = tick_run(exchange="binance", tick_key=key)  # the task retried / redelivered
    older = tick_run(exchange="binance", tick_key=key - 1)  # a late message for an older tick
    assert again.evaluated == older.evaluated == 0
    assert Fill.objects.filter(bot__in=bots).count() == 3
    assert Order.objects.filter(bot__in=bots).count() == 3
    for bot in bots:
        bot.refresh_from_db()
        assert bot.base > 0 and Decimal("90") <= bot.quote < Decimal("90.0001")  # one 10 USDT buy, fee included


@pytest.mark.django_db
def test_a_worker_that_dies_mid_tick_leaves_nothing_behind_and_the_retry_fills_once(alice, recording, monkeypatch):
    bots = _buyers(alice, 2)
    key = _poll()
    real_flush = tick_writes.ChunkWrites.flush

    def flush_then_die(self, summary):
        real_flush(self, summary)  # the writes happen...
        raise DatabaseError("server closed the connection unexpectedly")  # ...and the transaction is lost

    monkeypatch.setattr(tick_writes.ChunkWrites, "flush", flush_then_die)
    crashed = tick_run(exchange="binance", tick_key=key)
    assert crashed.errors == 2  # the chunk, then each bot alone: all rolled back
    assert not Fill.objects.exists() and not Order.objects.exists()
    assert all(b.last_tick_key is None for b in Bot.objects.all())  # the claims rolled back too
    monkeypatch.setattr(tick_writes.ChunkWrites, "flush", real_flush)
    retried = tick_run(exchange="binance", tick_key=key)  # acks_late: the message comes back
    assert retried.evaluated == 2 and retried.fills == 2
    assert Fill.objects.filter(bot__in=bots).count() == 2


WORKER = r"""
import json, os, sys, time
import django
django.setup()
from django.db import connections
connections["default"].settings_dict["NAME"] = sys.argv[1]
from trading.services.ticks import tick_run
start_at = float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
s = tick_run(exchange="binance", tick_key=int(sys.argv[2]))
print(json.dumps({"evaluated": s.evaluated, "fills": s.fills, "errors": s.errors,
                  "claimed_elsewhere": s.claimed_elsewhere}))
"""


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_on_the_same_tick_fill_once(alice, recording, settings):
    settings.QUOTA_BOTS = settings.QUOTA_RUNNING_BOTS = 200  # one owner, 120 bots: above the per-user quota
    bots = _buyers(alice, 120)
    key = _poll()
    env = {**os.environ, "MARKET_DATA_SOURCE": "replay", "MARKET_DATA_REPLAY_PATH": str(recording),
           "BOT_TICK_CHUNK": "10", "DJANGO_SETTINGS_MODULE": "config.settings"}
    start_at = time.time() + 4  # both processes are up by then: they start the tick together
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, connection.settings_dict["NAME"], str(key),
                               str(start_at)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["errors"] for r in results) == 0
    assert sum(r["evaluated"] for r in results) == 120  # every bot evaluated exactly once, by one of them
    assert sum(r["fills"] for r in results) == 120
    assert Fill.objects.filter(bot__in=bots).count() == 120
    assert Order.objects.filter(bot__in=bots).count() == 120
    assert all(Decimal("90") <= q < Decimal("90.0001") for q in Bot.objects.values_list("quote", flat=True))
