"""Liveness (`ping`) and per-dependency readiness (`health`)."""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import heartbeat_key


def _check(fn) -> dict:
    started = time.monotonic()
    try:
        extra = fn() or {}
        ok = extra.pop("ok", True)
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        return {"ok": False, "error": exc.__class__.__name__, "ms": round((time.monotonic() - started) * 1000, 1)}
    return {"ok": ok, **extra, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {}


def _redis() -> dict:
    cache.set("system:health-probe", "1", timeout=10)
    if cache.get("system:health-probe") != "1":
        return {"ok": False, "error": "read back failed"}
    return {}


def _celery(worker: str = "worker") -> dict:
    label = "worker" if worker == "worker" else f"{worker} worker"
    beat = cache.get(heartbeat_key(worker))
    if beat is None:
        return {"ok": False, "error": f"no {label} heartbeat yet"}
    age = time.time() - float(beat)
    ok = age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    out = {"ok": ok, "heartbeat_age_seconds": round(age, 1)}
    if not ok:
        out["error"] = f"{label} heartbeat is too old"
    return out


LIVE_HEALTH_KEY = "health:live_trading"  # written by trading/execution/health.py


def _live_trading() -> dict | None:
    """Whether the exchanges of live bots answer (only once live trading has reported anything)."""
    try:
        state = cache.get(LIVE_HEALTH_KEY)
    except Exception:  # noqa: BLE001 - Redis down: the redis check says so already
        return None
    if not state:
        return None
    down = {ex: s for ex, s in state.items() if not s.get("ok")}
    if not down:
        return {"ok": True, "exchanges": sorted(state)}
    return {"ok": False, "error": "; ".join(f"{ex}: {s.get('error', '')}" for ex, s in sorted(down.items()))[:300],
            "bots_paused": sum(int(s.get("bots_paused") or 0) for s in down.values())}


class PingApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: inline_serializer("PingOut", {"status": serializers.CharField()})})
    def get(self, request):
        return Response({"status": "ok"})


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer("HealthOut", {"status": serializers.CharField(), "checks": serializers.DictField()}),
            503: inline_serializer("HealthDown", {"status": serializers.CharField(), "checks": serializers.DictField()}),
        }
    )
    def get(self, request):
        checks = {"database": _check(_database), "redis": _check(_redis), "celery": _check(_celery),
                  "alerts": _check(lambda: _celery("alerts"))}
        healthy = all(c["ok"] for c in checks.values())
        live = _live_trading()
        status = "ok" if healthy else "unavailable"
        if live is not None:
            checks["live_trading"] = live
            if healthy and not live["ok"]:
                status = "degraded"  # the platform serves; live bots wait for their exchange (paused, nothing resent)
        return Response({"status": status, "checks": checks}, status=200 if healthy else 503)
