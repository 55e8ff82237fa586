"""The reset email is sent off the request: with an SMTP server that takes 3 s per message, the answer for a
known and for an unknown address comes back at once (so its time says nothing about the address) and a real
alerts worker delivers the one mail a moment later. Also the failed sign-in email."""

import os
import re
import subprocess
import time

import pytest

from tests.deploy.test_nginx import ROOT, VENV_BIN
from tests.notifications.smtp_standin import SmtpStandIn

pytestmark = pytest.mark.slow
SMTP_DELAY = 3.0
LINK = re.compile(r"https?://[^/\s]+/password/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


@pytest.fixture
def slow_smtp(settings):
    smtp = SmtpStandIn(delay=SMTP_DELAY).start()
    # were the mail sent during the request, this process would send it here (and wait)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", smtp.port, 10
    yield smtp
    smtp.stop()


@pytest.fixture
def alerts_worker(tmp_path, transactional_db, settings, slow_smtp):
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings", "EMAIL_URL": slow_smtp.email_url()}
    log = open(tmp_path / "alerts.log", "w+")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "worker", "-P", "solo", "-Q", "alerts",
                               "-n", f"mail{os.getpid()}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    from config.celery import app

    try:
        deadline = time.monotonic() + 45
        while not any(f"mail{os.getpid()}@" in name for reply in app.control.ping(timeout=1) for name in reply):
            assert worker.poll() is None, (tmp_path / "alerts.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the alerts worker did not come up"
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def _timed_post(client, path: str, body: dict, ip: str):
    started = time.monotonic()
    r = client.post(path, body, format="json", REMOTE_ADDR=ip)
    return r, time.monotonic() - started


def _wait_mail(smtp: SmtpStandIn, count: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while len(smtp.messages) < count:
        assert time.monotonic() < deadline, f"{len(smtp.messages)} of {count} mails arrived"
        time.sleep(0.1)


def _warm_up(client) -> None:
    # the process's first answer pays for imports and the broker connection: not what is measured here
    client.post("/api/auth/password-reset/", {"email": "warm-up@example.com"}, format="json", REMOTE_ADDR="10.9.9.9")


def test_the_reset_answer_does_not_wait_on_a_slow_smtp_server(anon, alice, alerts_worker, slow_smtp):
    _warm_up(anon)
    known, known_s = _timed_post(anon, "/api/auth/password-reset/", {"email": "alice@example.com"}, "10.9.0.1")
    unknown, unknown_s = _timed_post(anon, "/api/auth/password-reset/", {"email": "nobody@example.com"}, "10.9.0.2")
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    assert known_s < 1.0 and unknown_s < 1.0, (known_s, unknown_s)  # the SMTP server takes 3 s per message
    assert not slow_smtp.messages  # nothing was sent while answering

    _wait_mail(slow_smtp, 1)
    time.sleep(SMTP_DELAY + 1)  # had the unknown address been mailed, it would be here by now
    assert [m["To"] for m in slow_smtp.messages] == ["alice@example.com"]
    body = slow_smtp.messages[0].get_payload(decode=True).decode()
    link = LINK.search(body)
    assert link and link.group(0).startswith("http://testserver/password/reset/")  # the host the request named
    r = anon.post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                        "new_password": "a fresh and lengthy passphrase 31"},
                  format="json")
    assert r.status_code == 200, r.content
    print(f"answers {known_s * 1000:.0f} ms (known) / {unknown_s * 1000:.0f} ms (unknown) with a {SMTP_DELAY:.0f} s "
          "SMTP server")


def test_the_failed_sign_in_email_does_not_hold_up_the_sign_in_answer(anon, alice, alerts_worker, slow_smtp,
                                                                     settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth_ip": "10000/min", "auth_username": "10000/min"}}
    settings.LOGIN_NOTIFY_AFTER_FAILURES, settings.LOGIN_SLOW_AFTER_FAILURES = 3, 100
    _warm_up(anon)
    slowest = 0.0
    for i in range(4):
        r, seconds = _timed_post(anon, "/api/auth/login/", {"username": "alice", "password": f"guess{i}"},
                                 f"10.9.1.{i}")
        assert r.status_code == 401
        slowest = max(slowest, seconds)
    assert slowest < 1.0, slowest  # the third answer (the one that tells the owner) did not wait on SMTP
    _wait_mail(slow_smtp, 1)
    assert slow_smtp.messages[0]["To"] == "alice@example.com"
    assert "failed attempts" in slow_smtp.messages[0].get_payload(decode=True).decode()
