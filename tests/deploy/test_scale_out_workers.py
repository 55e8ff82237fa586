"""Scale-out, worker side: three Celery worker processes with distinct node names on the same queue (as on
three worker hosts) run the bots' ticks. Every bot is served exactly once per tick, there is no duplicate
fill, every node did a share of the work, and each bot's trades are the ones a single process computes
for its seed (the backtester, which the paper engine matches trade for trade).
"""

import os
import subprocess
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Count, Sum

from tests.bots_support import recording_bars, use_replay, write_recording
from tests.deploy.test_nginx import ROOT, VENV_BIN
from trading.models import Bot, Fill, Order, TickRun

pytestmark = pytest.mark.slow
NODES = 3
Q18 = Decimal("1e-18")


def _db(value: Decimal) -> Decimal:
    return value.quantize(Q18, rounding=ROUND_HALF_UP)


@pytest.fixture
def three_workers(tmp_path, transactional_db, settings):
    recording = write_recording(tmp_path, bars=120)
    use_replay(settings, tmp_path)
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings", "MARKET_DATA_SOURCE": "replay",
           "MARKET_DATA_REPLAY_PATH": str(tmp_path), "DEFAULT_WATCHLIST": "", "BOT_TICK_SHARDS": str(NODES)}
    tag = f"{os.getpid()}x{time.monotonic_ns() % 10**6}"
    log = open(tmp_path / "workers.log", "w")  # noqa: SIM115 - the workers' output, closed below
    procs = [subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "worker", "-P", "solo", "-Q", "celery",
                               "-n", f"host{n}-{tag}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for n in range(1, NODES + 1)]
    from config.celery import app

    try:
        deadline = time.monotonic() + 45
        while True:
            nodes = {name for reply in app.control.ping(timeout=1) for name in reply if tag in name}
            if len(nodes) == NODES:
                break
            assert all(p.poll() is None for p in procs), "a worker exited"
            assert time.monotonic() < deadline, f"only {nodes} answered within 45 s"
        yield {"recording": recording, "nodes": nodes, "app": app}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _wait_tick_done(tick_key: int, bots: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        runs = TickRun.objects.filter(exchange="binance", tick_key=tick_key)
        done = runs.aggregate(bots=Sum("bots"), evaluated=Sum("evaluated"), skipped=Sum("skipped"), shards=Count("pk"))
        if (done["bots"] or 0) >= bots:
            return done
        assert time.monotonic() < deadline, f"tick {tick_key} not done: {done}"
        time.sleep(0.05)


def test_three_workers_serve_every_bot_once_per_tick_with_the_single_process_figures(three_workers, alice, bob):
    from risk.limits import limits_for
    from trading.backtest import run_backtest
    from trading.engine.types import FillConfig, MarketRules
    from trading.services.bots import bot_create, bot_start
    from trading.services.prices import prices_poll
    from trading.tasks import run_bots_tick

    bots = []
    for n in range(12):
        owner = alice if n % 2 else bob
        bots.append(bot_start(bot=bot_create(owner=owner, name=f"Trend {n}", exchange="binance", symbol="BTC/USDT",
                                             strategy="sma_cross", params={"fast": 3, "slow": 8},
                                             starting_balance=Decimal("1000"), seed=1000 + n), actor=owner))
    bars = recording_bars(three_workers["recording"])
    ticks = 0
    for n in range(len(bars) + 2):  # past the end: the last candle has no next open to fill at
        started_ms = int(time.time() * 1000)
        polled = prices_poll(exchange="binance", symbols={"BTC/USDT"})
        if polled.tick_key is not None:  # what the beat-driven poll task does next: enqueue the tick
            run_bots_tick.delay(polled.exchange, polled.tick_key)
        last = n >= len(bars)  # the recording has len(bars) candles
        deadline = time.monotonic() + (3 if last else 30)
        while not (key := TickRun.objects.filter(exchange="binance", tick_key__gte=started_ms)
                   .values_list("tick_key", flat=True).first()):
            if last and time.monotonic() > deadline:
                break  # the recording is over: no new price, no tick
            assert time.monotonic() < deadline, f"no tick arrived for poll {n}"
            time.sleep(0.02)
        if key is None:
            break
        ticks += 1
        done = _wait_tick_done(key, len(bots))
        # each bot exactly once: in one shard, evaluated or skipped, never both, never twice
        assert done["bots"] == len(bots) and done["evaluated"] + done["skipped"] == len(bots), done

    # no duplicate fill: one order per (bot, tick) at most, each filled once
    assert not Order.objects.values("bot", "tick_key").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not Fill.objects.values("order").annotate(n=Count("pk")).filter(n__gt=1).exists()

    # every node did a share of the shards
    stats = three_workers["app"].control.inspect(timeout=2).stats() or {}
    shares = {node: s["total"].get("trading.run_bots_tick_shard", 0) for node, s in stats.items()
              if node in three_workers["nodes"]}
    assert len(shares) == 3 and all(v > 0 for v in shares.values()), shares

    # and the trades are the single-process ones
    traded = 0
    for bot in bots:
        result = run_backtest(bars, "sma_cross", bot.params, Decimal("1000"),
                              rules=MarketRules(base_currency="BTC", quote_currency="USDT"), cfg=FillConfig(),
                              seed=bot.seed, limits=limits_for(bot=bot))
        expected = [(f.side, _db(f.price), _db(f.amount), _db(f.fee), f.ts_ms) for f in result.fills]
        got = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
               for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
        assert got == expected, f"bot {bot.name} traded differently on three workers"
        bot = Bot.objects.get(pk=bot.pk)
        assert abs(bot.quote - result.wallet.quote) < Decimal("1e-12") and bot.base == _db(result.wallet.base)
        traded += len(got)
    assert traded >= 24 and ticks >= len(bars)
    print(f"{len(bots)} bots x {ticks} ticks on 3 workers: {traded} fills, shards per node {shares}")
