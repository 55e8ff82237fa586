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
        return Response({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)
