"""The PostgreSQL and Redis that `make run` starts want passwords, generated into `.env` on the first run."""

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stack(env, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "stack.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _redis(port, *cmd, password=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if password:
            s.sendall(f"AUTH {password}\r\n".encode())
            assert s.recv(100).startswith(b"+OK")
        s.sendall((" ".join(cmd) + "\r\n").encode())
        return s.recv(200).decode()


def _psql(port, password):
    env = {**os.environ, "PGPASSWORD": password} if password else {k: v for k, v in os.environ.items()
                                                                    if k != "PGPASSWORD"}
    return subprocess.run([stack._pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "platform", "-d",
                           "platform", "-w", "-tAc", "SELECT 1"], env=env, capture_output=True, text=True)


@pytest.fixture
def env(tmp_path):
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if parent.stat().st_mode & 0o001 == 0:
            os.chmod(parent, parent.stat().st_mode | 0o001)
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "PG_PASSWORD",
                                                             "REDIS_PASSWORD", "SECRET_KEY"}}
    base.update({"VAR_DIR": str(tmp_path / "var"), "PG_PORT": str(_free_port()), "REDIS_PORT": str(_free_port())})
    yield base
    _stack({**base, "ENV_FILE": str(tmp_path / ".env")}, "down")


def test_an_older_trust_cluster_adopts_passwords_added_to_env(env, tmp_path):
    # yesterday: started without passwords (as before this change)
    assert _stack({**env, "ENV_FILE": "/dev/null"}, "up", "--fast").returncode == 0
    assert _psql(env["PG_PORT"], None).returncode == 0
    assert _stack({**env, "ENV_FILE": "/dev/null"}, "down").returncode == 0
    # today: the .env has no passwords yet; `up` writes them and the services require them
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEBUG=true\n")
    dotenv.chmod(0o600)
    r = _stack({**env, "ENV_FILE": str(dotenv)}, "up", "--fast")
    assert r.returncode == 0, r.stdout + r.stderr
    values = stack._dotenv(dotenv)
    pg_pw, redis_pw = values["PG_PASSWORD"], values["REDIS_PASSWORD"]
    assert len(pg_pw) >= 24 and len(redis_pw) >= 24
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert _psql(env["PG_PORT"], None).returncode != 0  # no password: refused
    assert _psql(env["PG_PORT"], "wrong").returncode != 0
    assert _psql(env["PG_PORT"], pg_pw).returncode == 0
    assert _redis(int(env["REDIS_PORT"]), "PING").startswith("-NOAUTH")
    assert _redis(int(env["REDIS_PORT"]), "PING", password=redis_pw).startswith("+PONG")
    urls = _stack({**env, "ENV_FILE": str(dotenv)}, "env").stdout
    assert f"platform:{pg_pw}@" in urls and f"redis://:{redis_pw}@" in urls
    cmdlines = " ".join(p.read_bytes().decode(errors="replace") for p in Path("/proc").glob("[0-9]*/cmdline")
                        if p.exists())
    assert redis_pw not in cmdlines and pg_pw not in cmdlines


def test_a_fresh_cluster_is_created_with_the_password(env, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEBUG=true\nPG_PASSWORD=given-pg-secret-123\nREDIS_PASSWORD=given-redis-secret-456\n")
    r = _stack({**env, "ENV_FILE": str(dotenv)}, "up", "--fast")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _psql(env["PG_PORT"], None).returncode != 0
    assert _psql(env["PG_PORT"], "given-pg-secret-123").returncode == 0
    assert not (Path(env["VAR_DIR"]) / "run" / "initdb.pw").exists()
    assert _redis(int(env["REDIS_PORT"]), "PING", password="given-redis-secret-456").startswith("+PONG")


def test_the_first_run_env_file_has_service_passwords(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("ENV_FILE", str(tmp_path / ".env"))
    cfg = stack.Config()
    stack.ensure_env_file(cfg)
    values = stack._dotenv(tmp_path / ".env")
    assert values["PG_PASSWORD"] and values["REDIS_PASSWORD"] and values["PG_PASSWORD"] != values["REDIS_PASSWORD"]
    assert cfg.pg_password == values["PG_PASSWORD"]
