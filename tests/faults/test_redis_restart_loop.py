"""Redis killed and started again, FAULT_REDIS_CYCLES times in a row, under the whole platform of
test_faults_real_processes.py: the tool that reproduced the worker crash of issue 16 (about 1 Redis
restart in 5: "Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')", see
config/broker.py) and shows the fix holds over many restarts. Not part of the suite's run (minutes):

    FAULT_REDIS_CYCLES=30 scripts/test.sh tests/faults/test_redis_restart_loop.py -s

It prints, per cycle, whether every process kept its PID, and at the end how many restarts it took.
"""

import os
import time

import pytest

from tests.bots_support import write_recording
from tests.faults.platform import Platform
from tests.faults.test_faults_real_processes import SETUP, _bars, _resumed

CYCLES = int(os.environ.get("FAULT_REDIS_CYCLES", "0"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CYCLES, reason="set FAULT_REDIS_CYCLES to run it")]
PROCESSES = ("web", "worker", "alerts", "beat")


@pytest.mark.timeout(0)
def test_every_process_keeps_its_pid_across_redis_restarts(tmp_path, faults_cluster):
    replay = tmp_path / "replay"
    replay.mkdir()
    write_recording(replay, bars=6000, period=30.0)
    plat = Platform(tmp_path / "var", {
        "MARKET_DATA_SOURCE": "replay", "MARKET_DATA_REPLAY_PATH": str(replay), "DEFAULT_WATCHLIST": "",
        "PRICE_POLL_SECONDS": "1", "HEARTBEAT_INTERVAL_SECONDS": "1", "HEARTBEAT_MAX_AGE_SECONDS": "4",
        "BOT_TICK_SHARDS": "1", "CELERY_CONCURRENCY": "2", "PAPER_FILL_CONFIG": '{"reject_rate": "0"}'},
        faults_cluster)
    (tmp_path / "var").mkdir()
    crashed = []
    try:
        plat.up()
        plat.shell(SETUP)
        plat.run(*PROCESSES)
        assert plat.health.ok_now(timeout=60), f"the platform did not become healthy; logs in {plat.logs}"
        bars = _resumed(plat, dict.fromkeys(_bars(plat), 0), more=3, timeout=60)
        for cycle in range(1, CYCLES + 1):
            pids = {name: plat.sup.procs[name].pid for name in PROCESSES}
            restarts = len(plat.restarts)
            plat.redis_kill9()
            time.sleep(4)
            plat.redis_start()
            bars = _resumed(plat, bars, more=2, timeout=60)
            time.sleep(1)
            now = {name: plat.sup.procs[name].pid for name in PROCESSES}
            changed = sorted(name for name in PROCESSES if now[name] != pids[name])
            new = plat.restarts[restarts:]
            if changed or new:
                crashed.append((cycle, changed, new))
            print(f"cycle {cycle}/{CYCLES}: {'same PIDs' if not changed else 'restarted: ' + ', '.join(changed)}",
                  flush=True)
        unrecoverable = sum((plat.logs / f"{name}.log").read_text().count("Unrecoverable error")
                            for name in PROCESSES)
        print(f"{CYCLES} Redis restarts: {len(crashed)} with a process restarted {crashed}; "
              f"'Unrecoverable error' in the logs: {unrecoverable}", flush=True)
        assert not crashed, f"processes died across a Redis restart: {crashed}; logs in {plat.logs}"
    finally:
        plat.down()
