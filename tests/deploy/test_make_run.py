"""`make run` on a machine where nothing runs yet: healthy within 60 s, and a clean stop.

Each test starts the whole stack (its own PostgreSQL cluster and Redis under a temporary
VAR_DIR, uvicorn, a Celery worker and beat) exactly as a person would, with `make run`.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _leftovers(markers: list[str]) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "State:\tZ" in (proc / "status").read_text():
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            found.append(f"{proc.name}: {cmd[:160]}")
    return found


@pytest.fixture
def stack(tmp_path, request):
    os.chmod(tmp_path, 0o755)  # the postgres user must reach the cluster under it
    for parent in tmp_path.parents:
        if parent.stat().st_mode & 0o001 == 0:
            os.chmod(parent, parent.stat().st_mode | 0o001)
    ports = {"PORT": _free_port(), "PG_PORT": _free_port(), "REDIS_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "FIELD_ENCRYPTION_KEYS", "HTTPS",
                        "PYTEST_XDIST_WORKER"}}  # a user's stack: no test worker's Redis database or channel prefix
    env.update({k: str(v) for k, v in ports.items()})
    # deep on purpose: a checkout far down a file tree must still start (unix socket paths max out at 107 bytes)
    var = tmp_path / "a-checkout-somewhere-deep-in-a-home-folder" / "var"
    env.update({"VAR_DIR": str(var), "ENV_FILE": str(tmp_path / ".env"),
                "HEARTBEAT_INTERVAL_SECONDS": "2",
                "MARKET_DATA_SOURCE": "synthetic"})  # the default watchlist's feed is polled: never the internet
    if getattr(request, "param", None) == "external":  # another host's servers, named by DATABASE_URL and REDIS_URL
        servers = request.getfixturevalue("external_servers")
        env.update({"DATABASE_URL": servers["DATABASE_URL"], "REDIS_URL": servers["REDIS_URL"]})
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    markers = [str(tmp_path), f"--port {ports['PORT']}", f"127.0.0.1:{ports['REDIS_PORT']}", f"worker.{ports['PORT']}@",
               f"alerts.{ports['PORT']}@"]

    class Stack:
        pass

    s = Stack()
    s.proc, s.ports, s.tmp, s.var, s.markers, s.log = proc, ports, tmp_path, var, markers, log
    s.output = lambda: (log.flush(), (tmp_path / "run.log").read_text())[1]
    yield s
    if proc.poll() is None:  # a failed test must not leave a stack behind
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    for _ in range(100):
        if not _leftovers(markers):
            break
        time.sleep(0.2)
    log.close()


def _wait_healthy(stack, timeout: float = 60) -> tuple[float, dict]:
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        assert stack.proc.poll() is None, f"make run exited early:\n{stack.output()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['PORT']}/api/health/", timeout=2) as r:
                body = json.loads(r.read())
            if body["status"] == "ok":
                return time.monotonic() - started, body
            last = body  # degraded until both workers' heartbeats, beat's first run and the first prices
        except OSError as exc:  # refused while starting
            last = exc
        time.sleep(0.5)
    pytest.fail(f"/api/health/ not ok within {timeout}s (last: {last}):\n{stack.output()[-3000:]}")


def _wait_gone(stack, timeout: float = 45) -> list[str]:
    deadline = time.monotonic() + timeout
    left = []
    while time.monotonic() < deadline:
        left = _leftovers(stack.markers)
        if stack.proc.poll() is not None and not left:
            return []
        time.sleep(0.3)
    return left


def test_make_run_is_healthy_within_60s_and_ctrl_c_stops_everything(stack):
    elapsed, body = _wait_healthy(stack)
    assert body["status"] == "ok" and all(c["status"] == "ok" for c in body["checks"].values())
    # both workers, beat and the default watchlist's feed are up
    assert set(body["checks"]) == {"database", "redis", "celery", "alerts", "beat", "feed:binance"}
    out = stack.output()
    assert "First run: created the staff account 'admin'" in out and "/login/" in out
    env_file = stack.tmp / ".env"
    assert env_file.exists() and (env_file.stat().st_mode & 0o777) == 0o600
    assert "SECRET_KEY=" in env_file.read_text()
    # the pages send their policies themselves: they hold under `make run` (no nginx in front) too
    for path in ("/login/", "/api/health/"):
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['PORT']}{path}", timeout=5) as r:
            csp = r.headers.get_all("Content-Security-Policy") or []
            assert len(csp) == 1 and "object-src 'none'" in csp[0] and "frame-ancestors 'none'" in csp[0], (path, csp)
            assert "'unsafe-inline'" not in csp[0].split("script-src")[1].split(";")[0], (path, csp)
            assert "camera=()" in r.headers.get("Permissions-Policy", ""), path

    os.killpg(stack.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    left = _wait_gone(stack)
    assert not left, f"processes left after Ctrl-C: {left}\n{stack.output()[-2000:]}"
    assert not any(_open(p) for p in stack.ports.values())
    assert not (stack.var / "pg" / "postmaster.pid").exists()
    print(f"healthy after {elapsed:.1f}s")


def test_sigterm_to_make_stops_everything(stack):
    _wait_healthy(stack)
    stack.proc.send_signal(signal.SIGTERM)  # e.g. a process manager stopping `make run`
    left = _wait_gone(stack)
    assert not left, f"processes left after SIGTERM: {left}\n{stack.output()[-2000:]}"
    assert not any(_open(p) for p in stack.ports.values())


def _pids(marker: str) -> list[int]:
    return [int(line.split(":", 1)[0]) for line in _leftovers([marker])]


def test_a_crashed_worker_is_restarted_and_the_site_keeps_serving(stack):
    _wait_healthy(stack)
    worker = f"worker.{stack.ports['PORT']}@"
    for pid in _pids(worker):  # the Celery worker dies hard (OOM killer, a segfault ...)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "worker restarted" not in stack.output():
        assert stack.proc.poll() is None, f"make run stopped instead of restarting:\n{stack.output()[-3000:]}"
        # the web process keeps answering meanwhile
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['PORT']}/api/health/ping/", timeout=2) as r:
            assert r.status == 200
        assert time.monotonic() < deadline, stack.output()[-3000:]
        time.sleep(0.3)
    restarted = time.monotonic()
    out = stack.output()
    assert "worker exited with code -9; restarting it in 1s (restart 1 of at most 4 a minute)" in out
    assert _pids(worker), "no worker process after the restart"
    # and it works again: a heartbeat newer than the restart
    deadline = restarted + 30
    while True:
        _, body = _wait_healthy(stack)
        age = body["checks"]["celery"].get("heartbeat_age_seconds")
        if age is not None and age < time.monotonic() - restarted:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def test_a_process_that_keeps_crashing_stops_the_stack_saying_why(stack):
    _wait_healthy(stack)
    beat = "celery -A config beat"
    deadline = time.monotonic() + 90
    while stack.proc.poll() is None:
        for pid in _pids(beat):
            if str(stack.var) in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        assert time.monotonic() < deadline, stack.output()[-3000:]
        time.sleep(0.2)
    out = stack.output()
    assert "beat exited with code -9, 5 times within 60s; stopping everything" in out
    assert stack.proc.returncode != 0
    assert not _wait_gone(stack)


@pytest.fixture
def external_servers(settings):
    """An empty database on the tests' PostgreSQL server and a Redis database of their Redis: the servers of
    another host, as DATABASE_URL and REDIS_URL name them."""
    db = settings.DATABASES["default"]
    name = f"external_{uuid.uuid4().hex[:8]}"
    admin = dict(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db.get("PASSWORD") or None,
                 dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_url = f"{settings.REDIS_URL.rsplit('/', 1)[0]}/15"
    redis.Redis.from_url(redis_url).flushdb()
    yield {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}", "REDIS_URL": redis_url,
           "conn": dict(admin, dbname=name)}
    redis.Redis.from_url(redis_url).flushdb()
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("stack", [pytest.param("external", id="external")], indirect=True)
def test_make_run_on_external_postgresql_and_redis_starts_neither(stack, external_servers):
    _, body = _wait_healthy(stack)
    assert body["checks"]["database"]["status"] == body["checks"]["redis"]["status"] == "ok"
    assert not (stack.var / "pg").exists(), "a local PostgreSQL cluster was created"
    assert not _open(stack.ports["PG_PORT"]) and not _open(stack.ports["REDIS_PORT"])

    with psycopg.connect(**external_servers["conn"]) as conn:  # migrated, and the first run's staff account is there
        assert conn.execute("SELECT count(*) FROM accounts_user WHERE is_staff").fetchone()[0] == 1
    assert redis.Redis.from_url(external_servers["REDIS_URL"]).dbsize() > 0  # beat, heartbeats and prices live there
    os.killpg(stack.proc.pid, signal.SIGINT)
    left = _wait_gone(stack)
    assert not left, f"processes left after Ctrl-C: {left}\n{stack.output()[-2000:]}"
