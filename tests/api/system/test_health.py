import time

import pytest
from django.core.cache import cache

from accounts.services import HEARTBEAT_KEY
from accounts.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_ping_needs_no_auth(anon):
    r = anon.get("/api/health/ping/")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_health_is_ok_when_database_redis_and_both_workers_are_alive(anon):
    heartbeat.apply()  # what the beat-scheduled tasks do on the main worker ...
    heartbeat.apply(kwargs={"worker": "alerts"})  # ... and on the alert delivery worker
    r = anon.get("/api/health/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "redis": True, "celery": True, "alerts": True}
    assert body["checks"]["celery"]["heartbeat_age_seconds"] < 5


def test_health_is_503_when_the_alerts_worker_is_missing(anon):
    heartbeat.apply()
    r = anon.get("/api/health/")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["celery"]["ok"] is True
    assert checks["alerts"]["ok"] is False and checks["alerts"]["error"] == "no alerts worker heartbeat yet"


def test_alert_delivery_is_routed_to_its_own_worker_and_everything_else_is_not():
    from config.celery import app

    router = app.amqp.router
    assert router.route({}, "notifications.deliver")["queue"].name == "alerts"
    assert router.route({}, "notifications.deliver_due")["queue"].name == "alerts"
    for name in ("trading.poll_prices", "trading.run_bots_tick", "risk.monitor", "system.heartbeat"):
        assert router.route({}, name)["queue"].name == "celery"


def test_health_is_503_without_a_worker_heartbeat(anon):
    r = anon.get("/api/health/")
    assert r.status_code == 503
    assert r.json()["checks"]["celery"] == {**r.json()["checks"]["celery"], "ok": False,
                                            "error": "no worker heartbeat yet"}


def test_health_is_503_when_the_worker_went_quiet(anon, settings):
    cache.set(HEARTBEAT_KEY, time.time() - settings.HEARTBEAT_MAX_AGE_SECONDS - 5, timeout=None)
    r = anon.get("/api/health/")
    assert r.status_code == 503
    assert r.json()["checks"]["celery"]["error"] == "worker heartbeat is too old"


def test_health_is_503_when_redis_is_down(anon, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}}
    r = anon.get("/api/health/")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True


def test_the_beat_schedule_for_the_heartbeat_is_in_the_database_for_admin():
    from django_celery_beat.models import PeriodicTask

    main = PeriodicTask.objects.get(name="System heartbeat")
    alerts = PeriodicTask.objects.get(name="Alerts worker heartbeat")
    assert main.enabled and main.task == "system.heartbeat" and main.interval.every > 0
    assert alerts.enabled and alerts.task == "system.heartbeat" and alerts.queue == "alerts"
    assert alerts.kwargs == '{"worker": "alerts"}'
