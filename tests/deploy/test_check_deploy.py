"""`manage.py check --deploy` with production settings and a real-looking environment."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "HTTPS", "ALLOWED_HOSTS"}}
    env.update(env_overrides)
    env["ENV_FILE"] = "/dev/null"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


PRODUCTION = {
    "SECRET_KEY": "k7#Qm2$vX9pL@4nR8wT!zY6bH1cF5jD3sG0aE-uI_oP+eK=rM%tN^yW&xV*qZ",
    "ALLOWED_HOSTS": "trade.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://trade.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def test_check_deploy_reports_no_warnings_under_production_settings():
    r = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "System check identified no issues" in r.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    r = _manage("check", **env)
    assert r.returncode != 0
    assert "SECRET_KEY must be set" in r.stderr


def test_debug_is_off_unless_set():
    r = _manage("shell", "--no-imports", "-c", "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)",
                **PRODUCTION)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]
