"""GET /api/health/ tells the truth, component by component: 503 only when the API itself cannot work
(database or Redis down), 200 "degraded" when a worker, beat or an exchange feed is not ok.

With real processes (a SIGSTOPped worker, a web process whose database is gone, two beats):
tests/deploy/test_health_processes.py and tests/deploy/test_two_beats.py.
"""

import time

import pytest
from django.core.cache import cache

from accounts.services import HEARTBEAT_KEY
from accounts.tasks import heartbeat
from config.redis import get_redis
from ops.beat import BEAT_KEY_PREFIX, LAST_RUN_KEY
from tests.emulator.fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def all_alive(settings):
    """What a healthy deployment has: both workers' heartbeats, beat scheduling, no feed in use yet."""
    settings.DEFAULT_WATCHLIST = []
    heartbeat.apply()  # what the beat-scheduled tasks do on the main worker ...
    heartbeat.apply(kwargs={"worker": "alerts"})  # ... and on the alert delivery worker
    get_redis().set(LAST_RUN_KEY, f"{time.time():.3f}")  # what the scheduling beat writes at each tick
    get_redis().set(f"{BEAT_KEY_PREFIX}host-a:101", int(time.time()), ex=30)  # and its announcement


def _statuses(body) -> dict:
    return {name: check["status"] for name, check in body["checks"].items()}


def test_ping_needs_no_auth(anon):
    r = anon.get("/api/health/ping/")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_health_is_ok_when_every_component_is(anon, all_alive):
    r = anon.get("/api/health/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ok"
    assert _statuses(body) == {"database": "ok", "redis": "ok", "celery": "ok", "alerts": "ok", "beat": "ok"}
    assert all(c["ok"] is True for c in body["checks"].values())
    assert body["checks"]["celery"]["heartbeat_age_seconds"] < 5
    assert body["checks"]["beat"]["processes"] == 1 and body["checks"]["beat"]["last_run_age_seconds"] < 5


def test_a_missing_alerts_worker_is_degraded_not_503(anon, all_alive):
    cache.delete(f"{HEARTBEAT_KEY}:alerts")
    r = anon.get("/api/health/")
    assert r.status_code == 200  # a load balancer keeps the web: it serves
    body = r.json()
    assert body["status"] == "degraded"
    assert body["checks"]["celery"]["status"] == "ok"
    assert body["checks"]["alerts"] == {**body["checks"]["alerts"], "status": "degraded", "ok": False,
                                        "error": "no alerts worker heartbeat yet"}


def test_a_worker_heartbeat_older_than_the_threshold_is_degraded(anon, all_alive, settings):
    settings.HEARTBEAT_MAX_AGE_SECONDS = 6  # about 3 heartbeat intervals of 2 s
    cache.set(HEARTBEAT_KEY, time.time() - 5, timeout=None)
    assert anon.get("/api/health/").json()["status"] == "ok"  # late, but within the threshold
    cache.set(HEARTBEAT_KEY, time.time() - 7, timeout=None)
    r = anon.get("/api/health/")
    assert r.status_code == 200 and r.json()["status"] == "degraded"
    celery = r.json()["checks"]["celery"]
    assert celery["status"] == "degraded" and celery["error"] == "worker heartbeat is too old"
    assert celery["heartbeat_age_seconds"] >= 7 and celery["threshold_seconds"] == 6


def test_beat_that_stopped_running_is_degraded(anon, all_alive, settings):
    get_redis().set(LAST_RUN_KEY, f"{time.time() - settings.HEARTBEAT_MAX_AGE_SECONDS - 3:.3f}")
    r = anon.get("/api/health/")
    assert r.status_code == 200 and r.json()["status"] == "degraded"
    assert r.json()["checks"]["beat"]["error"] == "beat has not run for too long (nothing is scheduled)"
    get_redis().delete(LAST_RUN_KEY)
    assert anon.get("/api/health/").json()["checks"]["beat"]["error"] == "beat has not run yet"


def test_two_beats_running_is_a_warning(anon, all_alive):
    get_redis().set(f"{BEAT_KEY_PREFIX}host-b:202", int(time.time()), ex=30)
    r = anon.get("/api/health/")
    assert r.status_code == 200 and r.json()["status"] == "degraded"
    beat = r.json()["checks"]["beat"]
    assert beat["status"] == "degraded" and beat["processes"] == 2
    assert beat["error"].startswith("2 beats are running (host-a:101, host-b:202): stop all but one")


def test_an_exchange_that_goes_down_makes_its_feed_degraded_with_200(anon, all_alive, settings,
                                                                     use_binance_emulator):
    from trading.services.prices import prices_poll

    settings.DEFAULT_WATCHLIST = ["binance:BTC/USDT"]
    prices_poll(exchange="binance")
    r = anon.get("/api/health/")
    feed = r.json()["checks"]["feed:binance"]
    assert r.json()["status"] == "ok" and feed["status"] == "ok", feed
    assert feed["symbols"] == 1 and feed["stale"] == 0 and feed["price_age_seconds"] < 5

    use_binance_emulator.fail("server_error", status=503)  # the exchange answers 503 from now on
    time.sleep(1.1)
    prices_poll(exchange="binance")
    r = anon.get("/api/health/")
    assert r.status_code == 200, r.json()  # an exchange outage never takes the web out of the load balancer
    body = r.json()
    assert body["status"] == "degraded"
    feed = body["checks"]["feed:binance"]
    assert feed["status"] == "degraded" and feed["stale"] == 1 and feed["price_age_seconds"] >= 1
    assert feed["error"].startswith("BTC/USDT: ")
    assert {k: v for k, v in _statuses(body).items() if k != "feed:binance"} == {
        "database": "ok", "redis": "ok", "celery": "ok", "alerts": "ok", "beat": "ok"}

    use_binance_emulator.clear_faults()
    prices_poll(exchange="binance")
    assert anon.get("/api/health/").json()["status"] == "ok"  # and it recovers with the exchange


def test_a_symbol_never_priced_is_degraded(anon, all_alive, settings):
    settings.DEFAULT_WATCHLIST = ["kraken:BTC/USD"]
    feed = anon.get("/api/health/").json()["checks"]["feed:kraken"]
    assert feed["status"] == "degraded" and feed["price_age_seconds"] is None
    assert feed["error"] == "BTC/USD: not polled yet"


def test_health_is_503_down_when_redis_is_down(anon, settings, all_alive):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}}
    r = anon.get("/api/health/")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "down"
    assert body["checks"]["redis"]["status"] == "down" and body["checks"]["database"]["status"] == "ok"


def test_alert_delivery_is_routed_to_its_own_worker_and_everything_else_is_not():
    from config.celery import app

    router = app.amqp.router
    assert router.route({}, "notifications.deliver")["queue"].name == "alerts"
    assert router.route({}, "notifications.deliver_due")["queue"].name == "alerts"
    for name in ("trading.poll_prices", "trading.run_bots_tick", "risk.monitor", "system.heartbeat"):
        assert router.route({}, name)["queue"].name == "celery"


def test_the_beat_schedule_for_the_heartbeat_is_in_the_database_for_admin(settings):
    from django_celery_beat.models import PeriodicTask

    main = PeriodicTask.objects.get(name="System heartbeat")
    alerts = PeriodicTask.objects.get(name="Alerts worker heartbeat")
    assert main.enabled and main.task == "system.heartbeat" and main.interval.every > 0
    assert 2 * main.interval.every <= settings.HEARTBEAT_MAX_AGE_SECONDS  # one late heartbeat is no alarm
    assert alerts.enabled and alerts.task == "system.heartbeat" and alerts.queue == "alerts"
    assert alerts.kwargs == '{"worker": "alerts"}'
