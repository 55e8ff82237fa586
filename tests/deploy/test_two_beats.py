"""Two Celery beats started by mistake (e.g. on two worker hosts): the second says so in its log at start,
and /metrics counts both (tp_beat_processes 2, alert when it is not 1); stopping one brings it back to 1."""

import os
import subprocess
import time

import pytest
from django.test import Client

from ops.beat import BEAT_KEY_PREFIX, beats_running
from tests.deploy.test_nginx import ROOT, VENV_BIN

pytestmark = pytest.mark.slow


def _beat(tmp_path, n: int, env: dict) -> tuple[subprocess.Popen, object]:
    log = open(tmp_path / f"beat{n}.log", "w+")  # noqa: SIM115 - closed by the test
    proc = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
                             "--pidfile", str(tmp_path / f"beat{n}.pid")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, log


def _wait(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_second_beat_is_reported(tmp_path, transactional_db, settings, charlie):
    from config.redis import get_redis

    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings"}
    for key in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*"):
        get_redis().delete(key)
    first, first_log = _beat(tmp_path, 1, env)
    second = second_log = None
    try:
        _wait(lambda: len(beats_running()) == 1, "the first beat never announced itself")
        second, second_log = _beat(tmp_path, 2, env)
        _wait(lambda: len(beats_running()) == 2, "the second beat never announced itself")
        client = Client()
        client.force_login(charlie)
        assert "tp_beat_processes 2.0" in client.get("/metrics").content.decode()
        _wait(lambda: "another Celery beat is running" in (tmp_path / "beat2.log").read_text(),
              "the second beat did not warn")
        assert "another Celery beat is running" not in (tmp_path / "beat1.log").read_text()

        second.terminate()
        second.wait(timeout=20)
        get_redis().delete(f"{BEAT_KEY_PREFIX}{os.uname().nodename}:{second.pid}")  # or wait for its 30 s expiry
        assert "tp_beat_processes 1.0" in client.get("/metrics").content.decode()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        for log in (first_log, second_log):
            if log is not None:
                log.close()
        for key in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*"):
            get_redis().delete(key)
