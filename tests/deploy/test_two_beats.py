"""Two Celery beats started by mistake (e.g. on two worker hosts): the second says so in its log at start,
and /metrics counts both (tp_beat_processes 2, alert when it is not 1); stopping one brings it back to 1.
The second one stands by (ops/beat.py), so no tick and no fill is doubled, and /api/health/ warns."""

import os
import subprocess
import time
from decimal import Decimal

import pytest
from django.test import Client

from ops.beat import BEAT_KEY_PREFIX, beats_running
from tests.deploy.test_nginx import ROOT, VENV_BIN

pytestmark = pytest.mark.slow
SPEED = 1  # candles per poll


def _beat(tmp_path, n: int, env: dict) -> tuple[subprocess.Popen, object]:
    log = open(tmp_path / f"beat{n}.log", "w+")  # noqa: SIM115 - closed by the test
    proc = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
                             "--pidfile", str(tmp_path / f"beat{n}.pid")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, log


def _wait(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_second_beat_is_reported(tmp_path, transactional_db, settings, charlie):
    from config.redis import get_redis

    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings"}
    for key in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*"):
        get_redis().delete(key)
    first, first_log = _beat(tmp_path, 1, env)
    second = second_log = None
    try:
        _wait(lambda: len(beats_running()) == 1, "the first beat never announced itself")
        second, second_log = _beat(tmp_path, 2, env)
        _wait(lambda: len(beats_running()) == 2, "the second beat never announced itself")
        client = Client()
        client.force_login(charlie)
        assert "tp_beat_processes 2.0" in client.get("/metrics").content.decode()
        _wait(lambda: "another Celery beat is running" in (tmp_path / "beat2.log").read_text(),
              "the second beat did not warn")
        assert "another Celery beat is running" not in (tmp_path / "beat1.log").read_text()

        second.terminate()
        second.wait(timeout=20)
        get_redis().delete(f"{BEAT_KEY_PREFIX}{os.uname().nodename}:{second.pid}")  # or wait for its 30 s expiry
        assert "tp_beat_processes 1.0" in client.get("/metrics").content.decode()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        for log in (first_log, second_log):
            if log is not None:
                log.close()
        for key in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*"):
            get_redis().delete(key)


def test_two_beats_cannot_double_a_tick_and_health_warns_while_both_run(tmp_path, transactional_db, settings,
                                                                        alice, bob):
    """A worker and two real beat processes on one database and Redis (as when beat is enabled on two worker
    hosts by mistake), the price poll scheduled every second: one poll and one tick per second, no duplicate
    order or fill; /api/health/ says "degraded" (two beats) while both run; when the scheduling beat stops, the
    other one takes over."""
    from django.db.models import Count, Sum
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from config.redis import get_redis
    from ops.beat import LEADER_KEY, LEADER_TTL
    from tests.bots_support import use_replay, write_recording
    from trading.models import Fill, Order, TickRun
    from trading.price_selectors import STEP_KEY
    from trading.services.bots import bot_create, bot_start

    write_recording(tmp_path, bars=240)
    use_replay(settings, tmp_path)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="Poll prices").update(interval=every_second)
    for n in range(4):
        owner = alice if n % 2 else bob
        bot_start(bot=bot_create(owner=owner, name=f"Trend {n}", exchange="binance", symbol="BTC/USDT",
                                 strategy="sma_cross", params={"fast": 2, "slow": 5},
                                 starting_balance=Decimal("1000"), seed=500 + n), actor=owner)
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings", "MARKET_DATA_SOURCE": "replay",
           "MARKET_DATA_REPLAY_PATH": str(tmp_path), "DEFAULT_WATCHLIST": "",
           "MARKET_DATA_REPLAY_SPEED": str(SPEED)}
    r = get_redis()
    r.set(STEP_KEY.format(exchange="binance"), 60)  # the recording's first hour has passed: the bots are warm
    for key in [*r.scan_iter(match=f"{BEAT_KEY_PREFIX}*"), LEADER_KEY]:
        r.delete(key)
    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "worker", "-P", "solo", "-Q", "celery",
                               "-n", f"twobeats{os.getpid()}@%h", "-l", "INFO", "--without-gossip",
                               "--without-mingle"], cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    first, first_log = _beat(tmp_path, 1, env)
    second = second_log = None
    client = Client()
    try:
        _wait(lambda: TickRun.objects.exists(), "no tick within 45 s of the worker and beat starting", 45)
        second, second_log = _beat(tmp_path, 2, env)
        _wait(lambda: len(beats_running()) == 2, "the second beat never announced itself")
        _wait(lambda: "stands by" in (tmp_path / "beat2.log").read_text(), "the second beat did not stand by")

        health = client.get("/api/health/")
        assert health.status_code == 200, health.json()
        body = health.json()
        assert body["status"] == "degraded" and body["checks"]["beat"]["processes"] == 2, body
        assert "2 beats are running" in body["checks"]["beat"]["error"]
        assert body["checks"]["database"]["status"] == body["checks"]["redis"]["status"] == "ok"

        steps_before = int(r.get(STEP_KEY.format(exchange="binance")) or 0)
        since_ms = int(time.time() * 1000)
        time.sleep(8)  # both beats alive: 8 schedules of the poll by each
        until_ms = int(time.time() * 1000)
        polls = (int(r.get(STEP_KEY.format(exchange="binance"))) - steps_before) // SPEED
        runs = list(TickRun.objects.filter(exchange="binance", tick_key__gte=since_ms, tick_key__lt=until_ms)
                    .values("tick_key").annotate(bots=Sum("bots"), shards=Count("pk")).order_by("tick_key"))
        keys = [run["tick_key"] for run in runs]
        gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
        # one poll, one tick per second (two beats each sending would make about 16 of both)
        assert 6 <= polls <= 9 and 6 <= len(keys) <= 9, (polls, runs)
        assert min(gaps) >= 500, gaps
        assert all(run["bots"] == 4 for run in runs), runs  # every bot once per tick, over its shards
        # the scheduling beat stops: the one standing by takes over within the lease
        first.terminate()
        first.wait(timeout=20)
        stopped_ms = int(time.time() * 1000)
        _wait(lambda: TickRun.objects.filter(tick_key__gt=stopped_ms + 1000).exists(),
              "the second beat did not take over", LEADER_TTL + 15)
        assert "schedules the periodic tasks" in (tmp_path / "beat2.log").read_text()
    finally:
        for proc in (first, second, worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        for log in (first_log, second_log, worker_log):
            if log is not None:
                log.close()
        for key in [*r.scan_iter(match=f"{BEAT_KEY_PREFIX}*"), LEADER_KEY]:
            r.delete(key)

    # no duplicate order (one per bot and tick) and no duplicate fill (one per order)
    from trading.models import Bot

    assert Order.objects.exists() and Fill.objects.exists(), (
        list(Bot.objects.values("name", "status", "last_tick_note", "last_tick_key")),
        list(TickRun.objects.order_by("tick_key").values("tick_key", "bots", "evaluated", "skipped", "notes")))
    assert not Order.objects.values("bot", "tick_key").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not Fill.objects.values("order").annotate(n=Count("pk")).filter(n__gt=1).exists()
