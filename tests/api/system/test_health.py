import time

import pytest
from django.core.cache import cache

from accounts.services import HEARTBEAT_KEY
from accounts.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_ping_needs_no_auth(anon):
    r = anon.get("/api/health/ping/")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_health_is_ok_when_database_redis_and_a_worker_are_alive(anon):
    heartbeat.apply()  # what the beat-scheduled task does on a worker
    r = anon.get("/api/health/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "redis": True, "celery": True}
    assert body["checks"]["celery"]["heartbeat_age_seconds"] < 5


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

    task = PeriodicTask.objects.get(task="system.heartbeat")
    assert task.enabled and task.interval.every > 0
