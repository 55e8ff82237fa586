"""The exchange frozen, then answering garbage, with real processes: a platform of its own (PostgreSQL,
Redis, uvicorn, the workers, beat) polling the ccxt feed from the Binance emulator, paper DCA bots buying
on every closed 1-minute candle. The exchange first stops answering (every request stalls past the 2 s
client timeout), then answers with "abc" where prices belong; the outage spans a minute boundary, so the
bots would have bought on the candle that closed in it.

Expected: the poll keeps its cadence and marks the prices stale with the reason; no bot places an order
while the prices are stale or junk; the operator's status (/api/system/status/) says the feed is unhealthy
while /api/health/ keeps answering 200 (the web itself serves: a load balancer must not drop it for an
exchange outage); once the exchange answers properly again the bots evaluate the candle they missed and
buy; every wallet equals its fills, nothing twice.
"""

import json
import time
import urllib.request

import pytest

from tests.emulator.binance import BinanceEmulator
from tests.faults.platform import Platform, wallets_and_duplicates_check

pytestmark = pytest.mark.slow

SETUP = """
import time
from datetime import UTC, datetime
from decimal import Decimal
from accounts.models import User
from trading.models import Candle
from trading.services.bots import bot_create, bot_start
from trading.services.markets import markets_sync
markets_sync(exchange="binance")
minute = int(time.time() // 60) * 60
price = Decimal("{price}")
for i in range(1, 40):  # history, so the bots have closed candles from the first poll on
    Candle.objects.update_or_create(exchange="binance", symbol="BTC/USDT", timeframe="1m",
                                    ts=datetime.fromtimestamp(minute - i * 60, tz=UTC),
                                    defaults=dict(open=price, high=price, low=price, close=price, volume=0))
for n, name in enumerate(["erin", "frank"]):
    user = User.objects.create_user(username=name, email=name + "@example.com", password="Fault-test-" + name + "-1")
    for i in range(2):
        bot = bot_create(owner=user, name=name + " dca " + str(i), exchange="binance", symbol="BTC/USDT",
                         strategy="dca", params={{"interval_minutes": 1, "order_amount": "15"}},
                         starting_balance=Decimal("1000"), seed=10 * n + i)
        bot_start(bot=bot, actor=user)
"""


@pytest.fixture(scope="module")
def exchange_platform(tmp_path_factory, faults_cluster):
    emu = BinanceEmulator().start()
    var = tmp_path_factory.mktemp("faults-exchange") / "var"
    var.mkdir()
    plat = Platform(var, {
        "MARKET_DATA_SOURCE": "ccxt", "CCXT_OVERRIDES": json.dumps(emu.ccxt_overrides()), "CCXT_TIMEOUT_MS": "2000",
        "DEFAULT_WATCHLIST": "", "PRICE_POLL_SECONDS": "1", "HEARTBEAT_INTERVAL_SECONDS": "1",
        "HEARTBEAT_MAX_AGE_SECONDS": "6", "BOT_TICK_SHARDS": "1", "PAPER_FILL_CONFIG": '{"reject_rate": "0"}'}, faults_cluster)
    try:
        plat.up()
        plat.shell(SETUP.format(price=emu.price("BTC/USDT")["last"]))
        plat.run("web", "worker", "alerts", "beat")
        yield plat, emu
    finally:
        plat.down()
        emu.clear_faults()
        emu.stop()


def _token(plat: Platform, username: str) -> str:
    body = json.dumps({"username": username, "password": f"Fault-test-{username}-1"}).encode()
    req = urllib.request.Request(f"{plat.url}/api/auth/login/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def _feeds_healthy(plat: Platform, token: str) -> bool:
    req = urllib.request.Request(f"{plat.url}/api/system/status/", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["feeds"]["healthy"]


def _orders_since(plat: Platform, since: float) -> int:
    return plat.sql("SELECT count(*) FROM trading_order WHERE created_at >= to_timestamp(%s)", [since])[0][0]


def test_a_frozen_then_garbage_exchange_stops_trading_and_trading_resumes_after(exchange_platform):
    plat, emu = exchange_platform
    assert plat.health.ok_now(timeout=60), f"the platform did not become healthy; logs in {plat.logs}"
    deadline = time.monotonic() + 30
    while plat.sql("SELECT count(DISTINCT bot_id) FROM trading_fill")[0][0] < 4:  # every bot bought once
        assert time.monotonic() < deadline, "the bots did not trade on the seeded candles"
        time.sleep(0.5)
    token = _token(plat, "erin")
    assert _feeds_healthy(plat, token)

    while not 50 <= time.time() % 60 < 53:  # the outage will span the next minute boundary
        time.sleep(0.2)
    frozen = time.time()
    boundary = (int(frozen) // 60 + 1) * 60
    emu.fail("timeout", seconds=30)  # every request stalls: the exchange is frozen
    time.sleep(6)
    during = [_feeds_healthy(plat, token)]
    emu.clear_faults()
    emu.fail("garbage_prices", value="abc")
    while time.time() < boundary + 6:
        during.append(_feeds_healthy(plat, token))
        time.sleep(1)
    notes = plat.sql("SELECT last_tick_note FROM trading_bot")
    emu.clear_faults()
    cleared = time.time()

    assert _orders_since(plat, frozen) == 0, "an order was placed on frozen or junk prices"
    assert False in during, "the operator's status said the feeds were healthy all through the outage"
    assert all("stale price" in note for (note,) in notes), notes
    window = plat.health.between(frozen, cleared)
    assert window and all(s.code == 200 for s in window), [(s.code, s.status) for s in window if s.code != 200]
    # /api/health/ itself says the exchange feed is not ok (degraded, still 200) while it lasts
    assert any(s.status != "ok" for s in window), "health said ok all through the exchange outage"

    # the exchange answers again: each bot evaluates the candle that closed in the outage and buys
    deadline = time.monotonic() + 30
    while plat.sql("SELECT count(DISTINCT bot_id) FROM trading_order WHERE created_at >= to_timestamp(%s)",
                   [cleared])[0][0] < 4:
        assert time.monotonic() < deadline, "the bots did not trade again after the exchange came back"
        time.sleep(0.5)
    assert _feeds_healthy(plat, token)
    assert plat.health.ok_now(timeout=10)
    assert wallets_and_duplicates_check(plat) >= 8
    print(f"exchange frozen 6 s then garbage {cleared - frozen - 6:.0f} s: no order in the outage, "
          f"feeds unhealthy in {during.count(False)} of {len(during)} status reads, /api/health/ 200 in "
          f"{len(window)} of {len(window)} reads; trading again {time.time() - cleared:.1f} s after")
