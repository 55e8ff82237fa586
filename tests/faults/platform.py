"""A whole platform of real processes for fault tests: its own PostgreSQL and Redis (scripts/stack.py, on
free ports under a temporary VAR_DIR), uvicorn, the trading worker, the alerts worker and beat, as
`make run` starts them. A test may kill -9, SIGSTOP or restart any of them, Redis and PostgreSQL too;
the suite's own services are never touched. The test reads the platform's database with plain SQL."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg

from tests.faults.redis_private import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def _stack_module():
    spec = importlib.util.spec_from_file_location("stack_for_faults", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Sample:
    at: float
    code: int  # 0: no answer at all
    status: str


@dataclass
class HealthWatch:
    """Polls /api/health/ every 0.25 s in a thread for the whole run; each fault looks at its window."""

    url: str
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="health-watch").start()

    def _run(self) -> None:
        while not self._stop.is_set():
            at = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=3) as resp:
                    code, body = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                code, body = exc.code, exc.read()
            except OSError:
                code, body = 0, b""
            try:
                status = str(json.loads(body).get("status", ""))
            except ValueError:
                status = ""
            self.samples.append(Sample(at, code, status))
            self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]

    def ok_now(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.samples and self.samples[-1].code == 200 and self.samples[-1].status == "ok":
                return True
            time.sleep(0.2)
        return False


def _traversable(var: Path) -> None:
    os.chmod(var, 0o755)  # the postgres user must reach the cluster under it
    for parent in var.parents:
        if parent.stat().st_mode & 0o001 == 0:
            os.chmod(parent, parent.stat().st_mode | 0o001)


class Cluster:
    """The fault tests' own PostgreSQL cluster (scripts/stack.py, a free port, its own VAR_DIR). The first
    platform migrates the `platform` database once; each platform then runs on a copy of it (a template
    copy takes a second, a migration from scratch most of a minute on this machine)."""

    def __init__(self, var: Path):
        self.var = var
        self.stack = _stack_module()
        self.port = free_port()
        self.migrated = False
        self.copies = 0
        _traversable(var)
        saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "VAR_DIR", "PG_PORT", "ENV_FILE", "PG_PASSWORD")}
        try:
            os.environ.pop("DATABASE_URL", None)
            os.environ.update({"VAR_DIR": str(var), "PG_PORT": str(self.port), "ENV_FILE": "/dev/null",
                               "PG_PASSWORD": ""})
            self.cfg = self.stack.Config()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.stack.pg_up(self.cfg, True)

    def url(self, name: str) -> str:
        return f"postgres://platform@127.0.0.1:{self.port}/{name}"

    def copy(self) -> str:
        self.copies += 1
        name = f"platform_{self.copies}"
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE platform")
        return self.url(name)

    def stop(self) -> None:
        self.stack.pg_down(self.cfg)

    def start(self) -> None:
        self.stack.pg_up(self.cfg, True)


class Platform:
    def __init__(self, var: Path, extra_env: dict[str, str], cluster: Cluster):
        self.var = var
        self.cluster = cluster
        self.stack = cluster.stack
        self.ports = {"PORT": free_port(), "REDIS_PORT": free_port()}
        self.env_patch = {"VAR_DIR": str(var), "ENV_FILE": "/dev/null", **{k: str(v) for k, v in self.ports.items()},
                          "DEBUG": "false", "HTTPS": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
                          "PG_PASSWORD": "", "REDIS_PASSWORD": "", "DATABASE_URL": cluster.url("platform"),
                          **extra_env}
        self._saved: dict[str, str | None] = {}
        self.cfg = None
        self.sup = None
        self.logs = var / "log"
        self.health: HealthWatch | None = None
        # as systemd (Restart=on-failure) and `make run`'s supervisor do: a process that exits by itself is
        # started again; those a test killed on purpose wait for the test to start them
        self.held: set[str] = set()
        self.restarts: list[tuple[str, int]] = []  # (process, exit code) of each restart
        self._watching = threading.Event()

    # --- environment of the stack -----------------------------------------------------------------------
    def _enter_env(self) -> None:
        for key in ("DATABASE_URL", "REDIS_URL", *self.env_patch):
            self._saved[key] = os.environ.get(key)
        os.environ.pop("REDIS_URL", None)
        os.environ.update(self.env_patch)

    def _leave_env(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PORT']}"

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.cfg.database_url, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def manage(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT,
                             env=self.stack.child_env(self.cfg), capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"manage.py {args[0]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    # --- processes --------------------------------------------------------------------------------------
    def _argv(self, name: str) -> list[str]:
        port = self.ports["PORT"]
        if name == "web":
            return [str(VENV_BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                    "--lifespan", "off", "--no-proxy-headers", "--no-server-header"]
        if name == "worker":
            return [str(VENV_BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-Q", "celery",
                    "--concurrency", "2", "-n", f"worker.{port}@%h", "--without-gossip", "--without-mingle"]
        if name == "alerts":
            return [str(VENV_BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-Q", "alerts", "-P", "solo",
                    "-n", f"alerts.{port}@%h", "--without-gossip", "--without-mingle"]
        if name == "beat":
            (self.var / "run" / "beat.pid").unlink(missing_ok=True)
            return [str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
                    "--pidfile", str(self.var / "run" / "beat.pid")]
        raise ValueError(name)

    def _restart_exited(self) -> None:
        while self._watching.is_set():
            for name, proc in list(self.sup.procs.items()):
                if name not in self.held and proc.poll() is not None:
                    self.restarts.append((name, proc.returncode))
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # whatever it left in its group
                    time.sleep(1)
                    self.start(name)
            time.sleep(0.5)

    def start(self, name: str) -> None:
        self.held.discard(name)
        log = open(self.logs / f"{name}.log", "a")  # noqa: SIM115 - the child's output, lives as long as it does
        self.sup.procs[name] = subprocess.Popen(self._argv(name), cwd=ROOT, env=self.stack.child_env(self.cfg),
                                                start_new_session=True, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT)
        log.close()

    def kill9(self, name: str) -> None:
        """kill -9 of the whole process: the main process and its pool children (its process group)."""
        proc = self.sup.procs[name]
        self.held.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.sup.procs[name].pid, sig)

    def alive(self, name: str) -> bool:
        return self.sup.procs[name].poll() is None

    # --- services ---------------------------------------------------------------------------------------
    def redis_kill9(self) -> None:
        pidfile = self.var / "run" / "redis.pid"
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pidfile.unlink(missing_ok=True)

    def redis_start(self) -> None:
        self.stack.redis_up(self.cfg, True)

    def pg_stop(self) -> None:
        self.cluster.stop()

    def pg_start(self) -> None:
        self.cluster.start()

    # --- lifecycle --------------------------------------------------------------------------------------
    def up(self) -> None:
        self._enter_env()
        self.cfg = self.stack.Config()
        assert not self.cfg.own_db and self.cfg.own_redis
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stack.services_up(self.cfg, fast=True)  # Redis (PostgreSQL is the cluster's)
        self.sup = self.stack.Supervisor(self.cfg)
        if not self.cluster.migrated:
            self.manage("migrate", "--noinput", "-v", "0", timeout=240)
            self.cluster.migrated = True
        os.environ["DATABASE_URL"] = self.cluster.copy()  # this platform's own database from here on
        self.cfg = self.stack.Config()

    def run(self, *names: str) -> None:
        for name in names:
            self.start(name)
        self.health = HealthWatch(f"{self.url}/api/health/")
        self.health.start()
        self._watching.set()
        threading.Thread(target=self._restart_exited, daemon=True, name="restart-exited").start()

    def down(self) -> None:
        self._watching.clear()
        time.sleep(0.6)
        if self.health is not None:
            self.health.stop()
        try:
            if self.sup is not None:
                for proc in self.sup.procs.values():  # a stopped process must be able to take the TERM
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGCONT)
                self.sup.stop(timeout=15)
            if self.cfg is not None:
                self.stack.services_down(self.cfg)
        finally:
            self._leave_env()


def wallets_and_duplicates_check(plat: Platform) -> int:
    """Every paper wallet equals its starting balance plus its fills (the fee is paid in quote); no order
    filled twice, no candle evaluated twice, no order id twice. Returns the number of fills."""
    rows = plat.sql("""
        SELECT b.id, b.starting_balance, b.base, b.quote,
               coalesce(sum(CASE WHEN f.side = 'buy' THEN f.amount ELSE -f.amount END), 0),
               coalesce(sum(CASE WHEN f.side = 'buy' THEN -f.price * f.amount ELSE f.price * f.amount END - f.fee), 0),
               count(f.id)
        FROM trading_bot b LEFT JOIN trading_fill f ON f.bot_id = b.id GROUP BY b.id""")
    fills = 0
    for bot_id, start, base, quote, net_base, net_quote, n in rows:
        fills += n
        assert base == net_base, f"bot {bot_id}: base {base} but its fills say {net_base}"
        assert abs(quote - (start + net_quote)) <= Decimal("1e-12") * max(1, n), f"bot {bot_id}: quote {quote}"
        assert base >= 0 and quote >= 0
    assert not plat.sql("SELECT order_id FROM trading_fill GROUP BY order_id HAVING count(*) > 1")
    assert not plat.sql("SELECT bot_id, ts FROM trading_equitysnapshot GROUP BY bot_id, ts HAVING count(*) > 1")
    assert not plat.sql("SELECT bot_id, client_id FROM trading_order GROUP BY bot_id, client_id HAVING count(*) > 1")
    return fills
