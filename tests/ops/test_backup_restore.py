"""manage.py backup and restore for real: pg_dump/pg_restore against the test PostgreSQL, a restore into a
fresh database, every row identical and every encrypted key still opening with the configured keys."""

import gzip
import os
import stat
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.models import User
from keys.models import ExchangeKey
from notifications.models import Channel
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.models import Bot, EquitySnapshot, Fill, Order

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)
API_KEY, API_SECRET = "test-only-api-key-0001", "test-only-api-secret-000000000001"
TABLES = [m._meta.db_table for m in (User, ExchangeKey, Channel, Bot, Order, Fill, EquitySnapshot)]


@pytest.fixture
def fresh_database(settings):
    """A second, empty database on the same server; dropped afterwards."""
    db = settings.DATABASES["default"]
    name = f"restore_{uuid.uuid4().hex[:8]}"
    admin = dict(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {"name": name, "url": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}",
           "conn": dict(admin, dbname=name)}
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def platform(settings, tmp_path, alice, bob):
    from keys.services import key_create
    from notifications.services import channel_create
    from trading.services.bots import bot_create, bot_start

    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    key_create(owner=alice, exchange="binance", label="main", api_key=API_KEY, secret=API_SECRET)
    channel_create(owner=bob, kind="dingtalk", name="desk", webhook_url="http://127.0.0.1:9/robot/send?access_token="
                   "test-only-token", secret="SEC" + "1" * 20)
    for owner, seed in ((alice, 7), (bob, 8)):
        bot_start(bot=bot_create(owner=owner, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                                 params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=seed), actor=owner)
    for _ in range(60):
        poll_and_tick()
    assert Fill.objects.count() >= 2 and Order.objects.count() >= 2


def _rows(conn_kwargs) -> dict[str, list[tuple]]:
    with psycopg.connect(**conn_kwargs) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}


def _manage(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "ENV_FILE": "/dev/null", **env}, timeout=120)


def test_a_backup_restores_into_a_fresh_database_identical_and_decryptable(platform, settings, tmp_path,
                                                                           fresh_database, capsys):
    backups = tmp_path / "backups"
    call_command("backup", dir=str(backups), keep=2)
    out = capsys.readouterr().out
    [path] = list(backups.iterdir())
    assert f"wrote {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with gzip.open(path, "rb") as f:
        assert f.read(5) == b"PGDMP"  # pg_dump's custom format inside the gzip

    restored = _manage("restore", str(path), DATABASE_URL=fresh_database["url"])
    assert restored.returncode == 0, restored.stderr
    assert "4 stored secrets open with the configured FIELD_ENCRYPTION_KEYS" in restored.stdout  # key+secret, url+secret

    db = settings.DATABASES["default"]
    original = _rows(dict(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]))
    copy = _rows(fresh_database["conn"])
    for table in TABLES:
        assert copy[table] == original[table], f"{table} differs after the restore"
    assert len(copy[Fill._meta.db_table]) == Fill.objects.count()

    # and the keys open in the copy, with the keys from the environment
    from config.vault import Vault

    vault = Vault(settings.FIELD_ENCRYPTION_KEYS)
    with psycopg.connect(**fresh_database["conn"]) as conn:
        api_key_enc, secret_enc = conn.execute("SELECT api_key_enc, secret_enc FROM keys_exchangekey").fetchone()
    assert (vault.decrypt(api_key_enc), vault.decrypt(secret_enc)) == (API_KEY, API_SECRET)


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(platform, tmp_path, fresh_database, capsys):
    call_command("backup", dir=str(tmp_path), keep=1)
    [path] = list(tmp_path.glob("tradeplatform-*.dump.gz"))
    assert _manage("restore", str(path), DATABASE_URL=fresh_database["url"]).returncode == 0
    again = _manage("restore", str(path), DATABASE_URL=fresh_database["url"])
    assert again.returncode != 0
    assert f"database '{fresh_database['name']}' is not empty" in again.stderr and "--force" in again.stderr
    forced = _manage("restore", str(path), "--force", DATABASE_URL=fresh_database["url"])
    assert forced.returncode == 0, forced.stderr


def test_restore_says_when_the_keys_cannot_open_the_secrets(platform, tmp_path, fresh_database):
    call_command("backup", dir=str(tmp_path), keep=1)
    [path] = list(tmp_path.glob("tradeplatform-*.dump.gz"))
    other_key = Fernet.generate_key().decode()
    result = _manage("restore", str(path), DATABASE_URL=fresh_database["url"], FIELD_ENCRYPTION_KEYS=other_key)
    assert result.returncode != 0
    assert "4 stored secrets do not open with FIELD_ENCRYPTION_KEYS" in result.stderr


def test_backup_keeps_only_the_newest(db, tmp_path, capsys):
    for _ in range(3):
        call_command("backup", dir=str(tmp_path), keep=2)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 2
    assert "removed tradeplatform-" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no such backup"):
        call_command("restore", str(tmp_path / "missing.dump.gz"))
