#!/usr/bin/env python3
"""Local services and the whole platform, for `make run` and `make test`.

    stack.py up      start PostgreSQL and Redis under var/ (unless DATABASE_URL / REDIS_URL are set)
    stack.py down    stop what `up` started
    stack.py env     print the DATABASE_URL / REDIS_URL that `up` serves, as shell exports
    stack.py run     up + migrate + first-run admin + web, worker, alerts worker, beat; Ctrl-C / SIGTERM stops all

Settings come from the environment and `.env` (ENV_FILE). Nothing system-wide is touched:
the database cluster, sockets, logs and pid files all live under VAR_DIR (default ./var).
Only the standard library is used, so this runs before the virtualenv exists too.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def _dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


class Config:
    def __init__(self) -> None:
        self.env_file = Path(os.environ.get("ENV_FILE", ROOT / ".env"))
        self.reload()

    def reload(self) -> None:
        self.dotenv = _dotenv(self.env_file)
        self.var = Path(self.get("VAR_DIR", str(ROOT / "var"))).resolve()
        self.pg_port = int(self.get("PG_PORT", "55432"))
        self.redis_port = int(self.get("REDIS_PORT", "56379"))
        self.host = self.get("HOST", "127.0.0.1")
        self.port = int(self.get("PORT", "8000"))
        self.own_db = not self.get("DATABASE_URL")
        self.own_redis = not self.get("REDIS_URL")
        # passwords of the local services (written into .env on the first run; empty: no password, as for tests)
        self.pg_password = self.get("PG_PASSWORD")
        self.redis_password = self.get("REDIS_PASSWORD")

    def get(self, key: str, default: str = "") -> str:
        return os.environ.get(key) or self.dotenv.get(key) or default

    @property
    def database_url(self) -> str:
        auth = f"platform:{quote(self.pg_password, safe='')}" if self.pg_password else "platform"
        return self.get("DATABASE_URL") or f"postgres://{auth}@127.0.0.1:{self.pg_port}/platform"

    @property
    def redis_url(self) -> str:
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return self.get("REDIS_URL") or f"redis://{auth}127.0.0.1:{self.redis_port}/0"


def say(msg: str) -> None:
    print(f"\033[1;34m==>\033[0m {msg}", flush=True)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        # closed with a reset, not TIME-WAIT: polling a port in the ephemeral range can connect the socket to
        # itself (the kernel hands out the very port as the local one), and a TIME-WAIT left on it would keep
        # the server we wait for from binding its port for a minute
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if s.connect_ex((host, port)) != 0:
            return False
        return s.getsockname() != s.getpeername()  # connected to itself: nobody listens there


def _wait_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up on port {port} within {timeout:.0f}s; see the logs under var/log/")


# --- PostgreSQL ----------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"PostgreSQL's {name} is not installed: run scripts/bootstrap.sh")
    return found


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: as root we run it as the 'postgres' system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                       check=True)
    return "postgres"


def _as_pg(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    user = _pg_user()
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, **kw)


def pg_up(cfg: Config, fast: bool) -> None:
    data = cfg.var / "pg"
    run = cfg.var / "run"
    log = cfg.var / "log" / "postgres.log"
    user = _pg_user()
    for d in (cfg.var, run, log.parent):
        d.mkdir(parents=True, exist_ok=True)
    cfg.var.chmod(0o755)
    if user:
        uid = pwd.getpwnam(user).pw_uid
        for p in (run, log.parent):
            os.chown(p, uid, -1)
        # every folder above var/ must be traversable for the postgres user
        for parent in cfg.var.parents:
            if parent.stat().st_mode & 0o001 == 0:
                raise SystemExit(f"{parent} is not traversable by the postgres user; chmod o+x it or set VAR_DIR")
    if _port_open(cfg.pg_port):
        if (data / "postmaster.pid").exists():
            return
        raise SystemExit(f"Port {cfg.pg_port} is taken by another program: set PG_PORT or DATABASE_URL")
    if not (data / "PG_VERSION").exists():
        say(f"Creating the database cluster in {data}")
        data.mkdir(parents=True, exist_ok=True)
        if user:
            os.chown(data, pwd.getpwnam(user).pw_uid, -1)
        auth = ["--auth=trust"]
        pwfile = run / "initdb.pw"
        if cfg.pg_password:
            _private_write(pwfile, cfg.pg_password + "\n", owner=user)
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            _as_pg([_pg_bin("initdb"), "-D", str(data), "-U", "platform", *auth, "-E", "UTF8", "--no-locale"],
                   check=True, stdout=subprocess.DEVNULL)
        finally:
            pwfile.unlink(missing_ok=True)
    # A unix socket path may be at most 107 bytes; in a deep VAR_DIR we go TCP-only (we connect by TCP anyway)
    sockets = str(run) if len(f"{run}/.s.PGSQL.{cfg.pg_port}.lock") <= 100 else "''"
    opts = f"-p {cfg.pg_port} -c unix_socket_directories={sockets} -c listen_addresses=127.0.0.1"
    if fast:  # test runs: durability does not matter, speed does
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    say(f"Starting PostgreSQL on 127.0.0.1:{cfg.pg_port}")
    started = _as_pg([_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"],
                     stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if started.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        raise SystemExit("PostgreSQL did not start; the end of " + str(log) + ":\n  " + "\n  ".join(tail))
    pg_env = {**os.environ, "PGPASSWORD": cfg.pg_password} if cfg.pg_password else None
    if cfg.pg_password:
        pg_require_password(cfg, data)
    exists = _as_pg([_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(cfg.pg_port), "-U", "platform", "-d", "postgres",
                     "-tAc", "SELECT 1 FROM pg_database WHERE datname='platform'"],
                    check=True, capture_output=True, text=True, env=pg_env).stdout.strip()
    if exists != "1":
        _as_pg([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(cfg.pg_port), "-U", "platform", "platform"],
               check=True, env=pg_env)


def _private_write(path: Path, text: str, owner: str | None = None) -> None:
    """Write a file only its owner can read (and, when we run as root, owned by `owner`)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if owner:
        os.chown(path, pwd.getpwnam(owner).pw_uid, -1)


def pg_require_password(cfg: Config, data: Path) -> None:
    """A cluster made before passwords existed (trust): give 'platform' the password, then require it."""
    hba = data / "pg_hba.conf"
    lines = hba.read_text().splitlines()
    if not any(ln.split() and not ln.lstrip().startswith("#") and ln.split()[-1] == "trust" for ln in lines):
        return
    say("Setting the PostgreSQL password from .env and requiring it from now on")
    sql = "ALTER ROLE platform PASSWORD '" + cfg.pg_password.replace("'", "''") + "';\n"
    _as_pg([_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(cfg.pg_port), "-U", "platform", "-d", "postgres",
            "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], input=sql, text=True, check=True, stdout=subprocess.DEVNULL)
    out = []
    for ln in lines:
        parts = ln.split()
        if parts and not ln.lstrip().startswith("#") and parts[-1] == "trust":
            ln = ln.rstrip()[: -len("trust")] + "scram-sha-256"
        out.append(ln)
    hba.write_text("\n".join(out) + "\n")
    _as_pg([_pg_bin("pg_ctl"), "-D", str(data), "reload"], check=True, stdout=subprocess.DEVNULL)


def pg_down(cfg: Config) -> None:
    data = cfg.var / "pg"
    if (data / "postmaster.pid").exists():
        say("Stopping PostgreSQL")
        _as_pg([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"],
               stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


# --- Redis ---------------------------------------------------------------------------


def redis_up(cfg: Config, fast: bool) -> None:
    data = cfg.var / "redis"
    run = cfg.var / "run"
    for d in (data, run, cfg.var / "log"):
        d.mkdir(parents=True, exist_ok=True)
    pidfile = run / "redis.pid"
    if _port_open(cfg.redis_port):
        if pidfile.exists():
            return
        raise SystemExit(f"Port {cfg.redis_port} is taken by another program: set REDIS_PORT or REDIS_URL")
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(server).exists():
        raise SystemExit("redis-server is not installed: run scripts/bootstrap.sh")
    say(f"Starting Redis on 127.0.0.1:{cfg.redis_port}")
    conf = run / "redis.conf"  # the password goes in a private file, never on the command line (ps shows that)
    _private_write(conf, f"requirepass {cfg.redis_password}\n" if cfg.redis_password else "")
    args = [server, str(conf), "--port", str(cfg.redis_port), "--bind", "127.0.0.1", "--dir", str(data),
            "--daemonize", "yes", "--pidfile", str(pidfile), "--logfile", str(cfg.var / "log" / "redis.log"),
            "--maxclients", "4064", "--protected-mode", "yes"]
    args += ["--save", "", "--appendonly", "no"] if fast else ["--save", "60 1000"]
    for attempt in range(3):  # a port still held for a moment (see _port_open): try again
        subprocess.run(args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            _wait_port(cfg.redis_port, "Redis", timeout=10)
            return
        except SystemExit:
            if attempt == 2:
                raise
            time.sleep(1)


def redis_down(cfg: Config) -> None:
    pidfile = cfg.var / "run" / "redis.pid"
    if not pidfile.exists():
        return
    say("Stopping Redis")
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
    except (ProcessLookupError, ValueError):
        pass
    pidfile.unlink(missing_ok=True)


def services_up(cfg: Config, fast: bool = False) -> None:
    if cfg.own_db:
        pg_up(cfg, fast)
    if cfg.own_redis:
        redis_up(cfg, fast)


def services_down(cfg: Config) -> None:
    if cfg.own_redis:
        redis_down(cfg)
    if cfg.own_db:
        pg_down(cfg)


# --- first run -----------------------------------------------------------------------


def ensure_env_file(cfg: Config) -> None:
    """First run: write a private .env with fresh secrets, so nothing secret is ever in the repo."""
    if cfg.env_file.exists() or os.environ.get("SECRET_KEY"):
        return
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    lines = [
        "# Written by `make run` on first start. Keep it private (mode 600); never commit it.",
        "DEBUG=true",
        "HTTPS=false",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        f"FIELD_ENCRYPTION_KEYS={fernet_key}",
        # the local PostgreSQL and Redis that `make run` starts require these
        f"PG_PASSWORD={secrets.token_urlsafe(24)}",
        f"REDIS_PASSWORD={secrets.token_urlsafe(24)}",
        "",
    ]
    fd = os.open(cfg.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines))
    say(f"Wrote {cfg.env_file} with fresh secrets (mode 600)")
    cfg.reload()


def ensure_local_passwords(cfg: Config) -> None:
    """An older .env without service passwords: add them (the services adopt them on their next start)."""
    if not cfg.env_file.is_file():
        return
    missing = [name for name, own in (("PG_PASSWORD", cfg.own_db), ("REDIS_PASSWORD", cfg.own_redis))
               if own and not cfg.get(name)]
    if not missing:
        return
    with open(cfg.env_file, "a") as fh:
        fh.write("".join(f"\n{name}={secrets.token_urlsafe(24)}" for name in missing) + "\n")
    os.chmod(cfg.env_file, 0o600)
    say(f"Added {', '.join(missing)} to {cfg.env_file}")
    cfg.reload()


def child_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: v for k, v in cfg.dotenv.items() if k not in env})
    env["DATABASE_URL"] = cfg.database_url
    env["REDIS_URL"] = cfg.redis_url
    env["ENV_FILE"] = str(cfg.env_file)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Supervisor:
    """Starts the web, worker, alerts worker and beat processes, each in its own process group; stops them all."""

    # As systemd does in production (Restart=on-failure): a process that exits is started again after a
    # back-off (1, 2, 4, 8 s ...), at most MAX_RESTARTS times within RESTART_WINDOW seconds; past that the
    # stack stops, saying why, instead of restarting a process that cannot start.
    MAX_RESTARTS = 4
    RESTART_WINDOW = 60.0

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.due: dict[str, float] = {}  # name -> monotonic time of its pending restart
        self.stopping = False

    def start(self, name: str, argv: list[str]) -> None:
        self.argv[name] = argv
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=child_env(self.cfg), start_new_session=True,
                                            stdin=subprocess.DEVNULL)

    def _exited(self, name: str, code: int) -> bool:
        """Schedule a restart; False when the process exited too often to try again."""
        now = time.monotonic()
        recent = [t for t in self.restarts.get(name, []) if now - t < self.RESTART_WINDOW]
        if len(recent) >= self.MAX_RESTARTS:
            say(f"{name} exited with code {code}, {len(recent) + 1} times within {self.RESTART_WINDOW:.0f}s; "
                "stopping everything (see its output above)")
            return False
        delay = 2 ** len(recent)
        recent.append(now + delay)
        self.restarts[name] = recent
        self.due[name] = now + delay
        say(f"{name} exited with code {code}; restarting it in {delay}s "
            f"(restart {len(recent)} of at most {self.MAX_RESTARTS} a minute)")
        return True

    def stop(self, timeout: float = 20) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():  # whatever did not listen, and any orphans in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def watch(self) -> int:
        parent = os.getppid()
        while not self.stopping:
            if os.getppid() != parent:
                # `make` (or whoever started us) is gone, e.g. it got SIGTERM: stop too, orderly.
                say("The parent process went away; stopping everything")
                return 0
            for name, proc in list(self.procs.items()):
                if name in self.due:
                    if time.monotonic() >= self.due[name]:
                        del self.due[name]
                        if name == "beat":
                            (self.cfg.var / "run" / "beat.pid").unlink(missing_ok=True)
                        self.start(name, self.argv[name])
                        say(f"{name} restarted")
                    continue
                code = proc.poll()
                if code is not None:
                    with contextlib.suppress(ProcessLookupError):  # whatever it left in its group
                        os.killpg(proc.pid, signal.SIGKILL)
                    if not self._exited(name, code):
                        return 1
            time.sleep(0.3)
        return 0


def manage(cfg: Config, *args: str) -> None:
    subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=child_env(cfg), check=True)


def cmd_run(cfg: Config) -> int:
    ensure_env_file(cfg)
    ensure_local_passwords(cfg)
    sup = Supervisor(cfg)

    def _stop(signum, _frame):
        sup.stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    try:
        services_up(cfg)
        manage(cfg, "migrate", "--noinput", "-v", "0")
        manage(cfg, "first_run", "--url", f"http://{cfg.host}:{cfg.port}/")
        if sup.stopping:
            return 0
        workers = cfg.get("WEB_WORKERS", "1")
        # WEB_WORKERS uvicorn processes, each on a socket of its own (config/serve.py: SO_REUSEPORT, so the
        # kernel spreads connections evenly; uvicorn's own --workers let one process take most of them)
        sup.start("web", [str(VENV_BIN / "python"), "-m", "config.serve", "--host", cfg.host,
                          "--port", str(cfg.port), "--workers", workers, "--", "--lifespan", "off",
                          # forwarded headers are believed only from FORWARDED_ALLOW_IPS (empty here: nobody),
                          # in the app (config/proxy.py), never by uvicorn itself
                          "--no-proxy-headers", "--no-server-header", "--ws-per-message-deflate", "false"])
        sup.start("worker", [str(VENV_BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-Q", "celery",
                             "--concurrency", cfg.get("CELERY_CONCURRENCY", "2"), "-n", f"worker.{cfg.port}@%h"])
        # alert delivery on its own worker: a slow alert channel never holds up a tick
        sup.start("alerts", [str(VENV_BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-Q", "alerts",
                             "--concurrency", cfg.get("ALERTS_CONCURRENCY", "2"), "-n", f"alerts.{cfg.port}@%h"])
        # beat's pidfile lives here; with external PostgreSQL and Redis nothing else has made the folder
        (cfg.var / "run").mkdir(parents=True, exist_ok=True)
        (cfg.var / "run" / "beat.pid").unlink(missing_ok=True)  # a stale one would stop beat starting
        sup.start("beat", [str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
                           "--pidfile", str(cfg.var / "run" / "beat.pid")])
        say(f"Platform running at http://{cfg.host}:{cfg.port}/  (Ctrl-C stops everything)")
        code = sup.watch()
    except subprocess.CalledProcessError as exc:
        say(f"Start-up step failed: {' '.join(map(str, exc.cmd[:4]))} (exit {exc.returncode})")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("Stopping web, workers and beat")
        sup.stop()
        services_down(cfg)
        say("Stopped.")
    return code


def main(argv: list[str]) -> int:
    cfg = Config()
    cmd = argv[1] if len(argv) > 1 else "run"
    fast = "--fast" in argv
    if cmd == "up":
        ensure_local_passwords(cfg)
        services_up(cfg, fast=fast)
    elif cmd == "down":
        services_down(cfg)
    elif cmd == "env":
        print(f"export DATABASE_URL={cfg.database_url}\nexport REDIS_URL={cfg.redis_url}")
    elif cmd == "run":
        return cmd_run(cfg)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
