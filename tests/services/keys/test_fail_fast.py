"""Without the right encryption key the app refuses to start, with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from keys.services import key_create

ROOT = Path(__file__).resolve().parents[3]


def _start(keys: str, **extra) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIELD_ENCRYPTION_KEYS": keys, **extra}
    return subprocess.run([sys.executable, "-c", "import config.asgi"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_an_empty_key_list_stops_the_app():
    r = _start("")
    assert r.returncode != 0 and "FIELD_ENCRYPTION_KEYS is empty" in r.stderr


def test_a_malformed_key_stops_the_app():
    r = _start("this-is-not-a-fernet-key")
    assert r.returncode != 0 and "not a valid Fernet key" in r.stderr


@pytest.mark.django_db(transaction=True)
def test_keys_that_cannot_open_stored_secrets_stop_the_app(alice, settings):
    key_create(owner=alice, exchange="binance", label="main", api_key="APIKEYplaceholder", secret="SECRETplaceholder")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    wrong = _start(Fernet.generate_key().decode(), DATABASE_URL=url)
    assert wrong.returncode != 0
    assert "cannot decrypt the stored exchange keys" in wrong.stderr
    assert "SECRETplaceholder" not in wrong.stderr
    right = _start(",".join(settings.FIELD_ENCRYPTION_KEYS), DATABASE_URL=url)
    assert right.returncode == 0, right.stderr


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_keys_cannot_open_stored_secrets_does_not_start(alice):
    key_create(owner=alice, exchange="binance", label="main", api_key="APIKEYplaceholder", secret="SECRETplaceholder")
    db = connection.settings_dict
    env = {**os.environ, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    r = subprocess.run([str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "--pool=solo",
                        "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "cannot decrypt the stored exchange keys" in r.stdout + r.stderr
    assert "SECRETplaceholder" not in r.stdout + r.stderr
