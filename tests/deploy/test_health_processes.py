"""/api/health/ with real processes: a Celery worker frozen with SIGSTOP shows as "degraded" (200) within the
heartbeat threshold and "ok" again after SIGCONT; a web process whose PostgreSQL is gone answers 503 "down", and every operation of the schema 503 with Retry-After.
(Exchange down -> degraded 200, and two beats: tests/api/system/test_health.py, tests/deploy/test_two_beats.py.)
"""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client

from accounts.services import tokens_issue
from tests.deploy.test_nginx import ROOT, VENV_BIN, _free_port

pytestmark = pytest.mark.slow


def _env(settings, **extra) -> dict:
    db = settings.DATABASES["default"]
    return {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings", "DEFAULT_WATCHLIST": "", **extra}


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _celery(client) -> tuple[int, str, dict]:
    r = client.get("/api/health/")
    return r.status_code, r.json()["status"], r.json()["checks"]["celery"]


def _until(fn, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_frozen_worker_is_degraded_within_the_threshold_and_ok_after_it_resumes(tmp_path, transactional_db,
                                                                                 settings):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # the heartbeat every second, threshold 3 s (3 intervals), as HEARTBEAT_* would configure it
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="system.heartbeat").update(interval=every)
    settings.HEARTBEAT_MAX_AGE_SECONDS = 3
    env = _env(settings)
    log = open(tmp_path / "procs.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "worker", "-P", "solo", "-Q", "celery",
                               "-n", f"frozen{os.getpid()}@%h", "-l", "WARNING", "--without-gossip",
                               "--without-mingle"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    beat = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "WARNING",
                             "--pidfile", str(tmp_path / "beat.pid")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    client = Client()
    try:
        _until(lambda: _celery(client)[2]["status"] == "ok" and _celery(client)[2]["heartbeat_age_seconds"] < 1.5,
               "the worker's heartbeat never arrived", 45)
        time.sleep(3)
        assert _celery(client)[2]["status"] == "ok"  # beat keeps it fresh: no flapping at a 3 s threshold

        worker.send_signal(signal.SIGSTOP)  # frozen: alive to the kernel, doing nothing
        frozen = time.monotonic()
        code, overall, celery = _until(lambda: (s := _celery(client))[2]["status"] == "degraded" and s,
                                       "a frozen worker still looked healthy", 10)
        noticed = time.monotonic() - frozen
        assert code == 200 and overall == "degraded"  # the web keeps serving: not a 503
        assert celery["error"] == "worker heartbeat is too old" and celery["heartbeat_age_seconds"] >= 3  # shown to 0.1 s
        assert noticed < 3 + 2, f"noticed after {noticed:.1f}s"

        worker.send_signal(signal.SIGCONT)
        _until(lambda: _celery(client)[2]["status"] == "ok", "the resumed worker did not show healthy again", 15)
        print(f"frozen worker reported degraded after {noticed:.1f}s (threshold 3 s)")
    finally:
        _stop([worker, beat])
        log.close()


def _every_operation(port: int, token: str) -> list[str]:
    """Every operation of the schema (ids filled with 1), signed in and not: what did not answer 503 + JSON
    + Retry-After. The answers of the process alone (ping, schema, docs) are left out."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    problems = []
    for path, ops in schema["paths"].items():
        if path in {"/api/health/ping/", "/api/schema/", "/api/docs/"}:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in ops:
            for headers in ({"Authorization": f"Bearer {token}"}, {}):
                req = urllib.request.Request(f"http://127.0.0.1:{port}{url}", method=method.upper(),
                                             data=b"{}" if method != "get" else None,
                                             headers={"Content-Type": "application/json", **headers})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        code, head, body = r.status, r.headers, r.read()
                except urllib.error.HTTPError as exc:
                    code, head, body = exc.code, exc.headers, exc.read()
                what = f"{method.upper()} {url} {'signed in' if headers else 'anonymous'} -> {code}"
                if code == 401 and not headers or code == 400 and path.startswith("/api/auth/"):
                    continue  # no token, or an empty sign-in form: refused before any store is asked
                if code != 503 or not (head.get("Retry-After") or "").isdigit():
                    problems.append(what)
                elif path != "/api/health/" and json.loads(body)["error"]["code"] != "service_unavailable":
                    problems.append(f"{what}: {body[:120]!r}")
    return problems


def test_a_web_process_without_its_database_answers_503_down(tmp_path, settings, alice):
    port = _free_port()
    dead = _free_port()  # nothing listens there: "PostgreSQL is down"
    env = _env(settings, DATABASE_URL=f"postgres://nobody@127.0.0.1:{dead}/gone", DEBUG="false",
               ALLOWED_HOSTS="127.0.0.1", DB_POOL_TIMEOUT="0.2")  # each request waits this for the pool
    web = subprocess.Popen([str(VENV_BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
                            "--port", str(port), "--lifespan", "off", "--log-level", "warning"], cwd=ROOT, env=env)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return None

    try:
        _until(lambda: web.poll() is not None or get("/api/health/ping/"), "the web process did not come up", 30)
        assert web.poll() is None, "the web process exited without its database"
        status, body = get("/api/health/")
        assert status == 503, body
        assert body["status"] == "down"
        assert body["checks"]["database"]["status"] == "down" and body["checks"]["database"]["ok"] is False
        assert body["checks"]["redis"]["status"] == "ok"  # it says which one
        assert get("/api/health/ping/")[0] == 200  # liveness: the process itself is fine
        # and every other operation degrades the same way: 503 in the error shape with Retry-After, no 500
        problems = _every_operation(port, tokens_issue(user=alice)["access_token"])
        assert not problems, f"{len(problems)}:\n" + "\n".join(problems[:40])
    finally:
        _stop([web])
