"""/api/health/: every component with "status": "ok" | "degraded" | "down", and an overall status.

- database, redis: "down" when they do not answer. Only these make the API itself unusable, so only
  they turn the answer into 503 (a load balancer takes the web instance out); everything else is 200.
- celery, alerts: each worker's heartbeat (a beat-scheduled task on its queue); "degraded" when missing or
  older than HEARTBEAT_MAX_AGE_SECONDS (about three heartbeat intervals): the worker is frozen, dead,
  swamped, or beat does not send.
- beat: the scheduling beat's last run (older than HEARTBEAT_MAX_AGE_SECONDS: "degraded"), and "degraded"
  while more than one beat process runs (ops/beat.py: the extra one stands by, but it is a mistake).
- feed:<exchange>: for each exchange in use, the age of its oldest last good price; "degraded" while any
  price in use is stale (exchange down, garbage, no update for PRICE_STALE_AFTER_SECONDS): bots do not
  trade on it, the rest of the platform serves.
- live_trading: once live trading reported anything, whether the live bots' exchanges answer.

The overall status is "down" (503) if the database or Redis is down, "degraded" (200) if any other
component is not ok, else "ok". Each component also says `"ok": true|false` and how long its check took.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.services import heartbeat_key
from ops.beat import beat_last_run, beats_running
from trading.execution.health import HEALTH_KEY as LIVE_HEALTH_KEY
from trading.price_selectors import symbols_in_use, tickers_latest

OK, DEGRADED, DOWN = "ok", "degraded", "down"
CRITICAL = ("database", "redis")  # without these the API cannot answer anything: 503


def _component(fn, *, failed: str = DEGRADED) -> dict:
    """Run one check; an exception is that component's failure (`failed`), never the health answer's."""
    started = time.monotonic()
    try:
        out = fn() or {}
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        out = {"status": failed, "error": exc.__class__.__name__}
    out.setdefault("status", OK)
    return {"status": out["status"], "ok": out["status"] == OK, **{k: v for k, v in out.items() if k != "status"},
            "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {}


def _redis() -> dict:
    cache.set("system:health-probe", "1", timeout=10)
    if cache.get("system:health-probe") != "1":
        return {"status": DOWN, "error": "read back failed"}
    return {}


def _worker(worker: str) -> dict:
    label = "worker" if worker == "worker" else f"{worker} worker"
    beat = cache.get(heartbeat_key(worker))
    if beat is None:
        return {"status": DEGRADED, "error": f"no {label} heartbeat yet"}
    age = max(0.0, time.time() - float(beat))
    out = {"heartbeat_age_seconds": round(age, 1), "threshold_seconds": settings.HEARTBEAT_MAX_AGE_SECONDS}
    if age > settings.HEARTBEAT_MAX_AGE_SECONDS:
        return {"status": DEGRADED, **out, "error": f"{label} heartbeat is too old"}
    return out


def _beat() -> dict:
    running = beats_running()
    last = beat_last_run()
    out = {"processes": len(running),
           "last_run_age_seconds": None if last is None else round(max(0.0, time.time() - last), 1)}
    problems = []
    if len(running) > 1:
        problems.append(f"{len(running)} beats are running ({', '.join(running)}): stop all but one "
                        "(the extra ones stand by, docs/scale-out.md)")
    if last is None:
        problems.append("beat has not run yet")
    elif out["last_run_age_seconds"] > settings.HEARTBEAT_MAX_AGE_SECONDS:
        problems.append("beat has not run for too long (nothing is scheduled)")
    if problems:
        return {"status": DEGRADED, **out, "error": "; ".join(problems)}
    return out


def _feeds() -> dict[str, dict]:
    out = {}
    for exchange, symbols in sorted(symbols_in_use().items()):
        def check(exchange=exchange, symbols=symbols) -> dict:
            ticks = tickers_latest(exchange=exchange, symbols=sorted(symbols))
            now = time.time()
            stale = {s: (t.reason if t is not None else "not polled yet")
                     for s, t in ticks.items() if t is None or t.stale}
            good = [t.received_at for t in ticks.values() if t is not None and t.last is not None]
            ages = [now - at for at in good]
            result = {"source": settings.MARKET_DATA_SOURCE, "symbols": len(ticks), "stale": len(stale),
                      # the oldest last good price in use (None: a symbol has never had one)
                      "price_age_seconds": round(max(ages), 1) if ages and len(good) == len(ticks) else None}
            if stale:
                reasons = "; ".join(f"{s}: {why}" for s, why in sorted(stale.items()))
                return {"status": DEGRADED, **result, "error": reasons[:300]}
            return result

        out[f"feed:{exchange}"] = _component(check)
    return out


def _live_trading() -> dict | None:
    """Whether the exchanges of live bots answer (only once live trading has reported anything)."""
    state = cache.get(LIVE_HEALTH_KEY)
    if not state:
        return None
    down = {ex: s for ex, s in state.items() if not s.get("ok")}
    if not down:
        return {"exchanges": sorted(state)}
    return {"status": DEGRADED,
            "error": "; ".join(f"{ex}: {s.get('error', '')}" for ex, s in sorted(down.items()))[:300],
            "bots_paused": sum(int(s.get("bots_paused") or 0) for s in down.values())}


def health_report() -> tuple[str, dict[str, dict]]:
    """(overall status, components). Never raises; each check is independent of the others."""
    checks = {"database": _component(_database, failed=DOWN), "redis": _component(_redis, failed=DOWN),
              "celery": _component(lambda: _worker("worker")), "alerts": _component(lambda: _worker("alerts")),
              "beat": _component(_beat)}
    try:
        checks.update(_feeds())
    except Exception as exc:  # noqa: BLE001 - the database or Redis is away: their own checks say so
        checks["feeds"] = {"status": DEGRADED, "ok": False, "error": f"cannot tell ({exc.__class__.__name__})"}
    try:
        live = _live_trading()
    except Exception:  # noqa: BLE001 - Redis down: the redis check says so already
        live = None
    if live is not None:
        checks["live_trading"] = _component(lambda: live)
    if any(checks[name]["status"] == DOWN for name in CRITICAL):
        return DOWN, checks
    if any(c["status"] != OK for c in checks.values()):
        return DEGRADED, checks
    return OK, checks
