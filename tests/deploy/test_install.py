"""deploy/install.sh itself: `--dry-run` prints every step and changes nothing; `--configure` writes the
environment file (mode 640, no empty secret) and the admin htpasswd into a temporary root, and a second
run keeps both byte for byte; the systemd units pass `systemd-analyze verify`.
"""

import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
# every program the installer uses to change the machine; the dry run must call none of them
CHANGERS = ["apt-get", "useradd", "usermod", "install", "rsync", "systemctl", "runuser", "nginx", "ln", "pip",
            "psql", "chown", "chmod", "openssl", "sleep"]


def _group() -> str:
    return grp.getgrgid(os.getegid()).gr_name


def _paths(tmp: Path) -> dict[str, str]:
    return {"PREFIX": str(tmp / "opt"), "ETC": str(tmp / "etc"), "STATE": str(tmp / "state"),
            "NGINX_SNIPPETS": str(tmp / "snippets")}


def test_a_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    shims = tmp_path / "shims"
    shims.mkdir()
    calls = tmp_path / "calls.log"
    for name in CHANGERS:
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        shim.chmod(0o755)
    root = tmp_path / "root"
    env = {**os.environ, **_paths(root), "PATH": f"{shims}:{os.environ['PATH']}", "SERVER_NAME": "trade.example.com",
           "ADMIN_BASIC_AUTH_USER": "ops"}
    result = subprocess.run(["bash", str(INSTALL), "--dry-run"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not calls.exists(), f"the dry run ran: {calls.read_text()}"
    assert not root.exists(), "the dry run created files"
    for step in ("apt-get install", "useradd --system", "rsync -a --delete", "venv/bin/pip install",
                 f"write {root}/etc/env", "write " + str(root / "etc" / "admin.htpasswd"),
                 "create the PostgreSQL role and database", "manage.py migrate", "manage.py collectstatic",
                 "check --deploy", "would run: nginx -t", "systemctl enable tradeplatform.target",
                 "tradeplatform-backup.timer", "manage.py verify_deployment --url https://trade.example.com"):
        assert step in out, f"the dry run does not show: {step}\n{out}"
    assert out.rstrip().endswith("Dry run finished: nothing was changed")
    # in the order an install takes them
    order = [out.index(s) for s in ("apt-get install", "rsync", "write", "migrate", "nginx -t", "daemon-reload",
                                     "verify_deployment")]
    assert order == sorted(order)


def test_a_dry_run_without_a_server_name_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SERVER_NAME"}
    result = subprocess.run(["bash", str(INSTALL), "--dry-run"], capture_output=True, text=True,
                            env={**env, **_paths(tmp_path)})
    assert result.returncode != 0 and "set SERVER_NAME" in result.stderr


def _configure(tmp: Path, **extra) -> subprocess.CompletedProcess:
    env = {**os.environ, **_paths(tmp), "SERVER_NAME": "trade.example.com", "APP_USER": _group(),
           "NGINX_GROUP": _group(), **extra}
    return subprocess.run(["bash", str(INSTALL), "--configure"], capture_output=True, text=True, env=env)


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_configure_writes_a_private_env_file_with_fresh_secrets_and_never_overwrites_it(tmp_path):
    from cryptography.fernet import Fernet

    result = _configure(tmp_path)
    assert result.returncode == 0, result.stderr
    envfile = tmp_path / "etc" / "env"
    mode = stat.S_IMODE(envfile.stat().st_mode)
    assert mode == 0o640, oct(mode)  # root:<service group>: the service reads it, nobody else does
    assert grp.getgrgid(envfile.stat().st_gid).gr_name == _group()
    assert stat.S_IMODE((tmp_path / "etc").stat().st_mode) == 0o750
    values = _read_env(envfile)
    for key in ("SECRET_KEY", "JWT_SIGNING_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "ALLOWED_HOSTS"):
        assert values.get(key), f"{key} is empty"
    assert len(values["SECRET_KEY"]) >= 50 and values["SECRET_KEY"] != values["JWT_SIGNING_KEY"]
    Fernet(values["FIELD_ENCRYPTION_KEYS"].encode())  # a valid key
    password = values["DATABASE_URL"].split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(password) >= 24
    assert values["DEBUG"] == "false" and values["ENABLE_LIVE_TRADING"] == "false"
    assert not list((tmp_path / "etc").glob(".env.*")), "a temporary file was left behind"

    first = envfile.read_bytes()
    again = _configure(tmp_path, SERVER_NAME="other.example.com")  # an upgrade, even with other settings
    assert again.returncode == 0, again.stderr
    assert "Keeping" in again.stdout
    assert envfile.read_bytes() == first


def test_configure_refuses_an_env_file_with_an_empty_secret(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "env").write_text("SECRET_KEY=\nFIELD_ENCRYPTION_KEYS=x\nDATABASE_URL=postgres://a@b/c\n")
    result = _configure(tmp_path)
    assert result.returncode != 0
    assert "no value for SECRET_KEY" in result.stderr


def test_configure_creates_the_admin_htpasswd_once(tmp_path):
    result = _configure(tmp_path, ADMIN_BASIC_AUTH_USER="ops")
    assert result.returncode == 0, result.stderr
    htpasswd = tmp_path / "etc" / "admin.htpasswd"
    user, _, digest = htpasswd.read_text().strip().partition(":")
    assert user == "ops" and digest.startswith("$6$")  # SHA-512 crypt, which nginx reads
    assert stat.S_IMODE(htpasswd.stat().st_mode) == 0o640
    password_file = tmp_path / "etc" / "admin-basic-auth.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 18 and password not in result.stdout + result.stderr  # never printed
    # on standard input: a generated password may begin with "-", which openssl would take for an option
    check = subprocess.run(["openssl", "passwd", "-6", "-salt", digest.split("$")[2], "-stdin"], input=password,
                           capture_output=True, text=True, check=True)
    assert check.stdout.strip() == digest

    first = htpasswd.read_bytes()
    again = _configure(tmp_path, ADMIN_BASIC_AUTH_USER="someone-else", ADMIN_BASIC_AUTH_PASSWORD="x" * 20)
    assert again.returncode == 0 and htpasswd.read_bytes() == first


def test_configure_takes_the_admin_password_from_the_environment(tmp_path):
    result = _configure(tmp_path, ADMIN_BASIC_AUTH_USER="ops", ADMIN_BASIC_AUTH_PASSWORD="correct-horse-battery")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "etc" / "admin-basic-auth.password").exists()
    digest = (tmp_path / "etc" / "admin.htpasswd").read_text().strip().split(":", 1)[1]
    check = subprocess.run(["openssl", "passwd", "-6", "-salt", digest.split("$")[2], "correct-horse-battery"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.strip() == digest


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_systemd_units_and_the_backup_timer_pass_systemd_analyze(tmp_path):
    units = sorted(str(p) for p in (ROOT / "deploy" / "systemd").iterdir())
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # the units name /opt/tradeplatform paths that exist only on an installed host: ignore only that
    problems = [line for line in result.stderr.splitlines()
                if line.strip() and "/opt/tradeplatform" not in line and "not executable" not in line]
    assert not problems, result.stderr


def test_the_nightly_backup_runs_as_the_service_user_with_the_environment_file():
    service = (ROOT / "deploy" / "systemd" / "tradeplatform-backup.service").read_text()
    timer = (ROOT / "deploy" / "systemd" / "tradeplatform-backup.timer").read_text()
    assert "Type=oneshot" in service and "User=tradeplatform" in service
    assert "EnvironmentFile=/etc/tradeplatform/env" in service and "manage.py backup" in service
    assert "UMask=0077" in service  # dumps readable by the service user only
    assert "OnCalendar=*-*-* 03:15:00 UTC" in timer and "Persistent=true" in timer  # a missed night runs at boot
