"""The production pieces for real: deploy/install.sh renders the nginx site, `nginx -t` accepts it, and a
stack behind a real nginx on loopback (TLS, uvicorn on a unix socket as systemd runs it, a Celery
worker) passes `manage.py verify_deployment` — which also fails, with a reason, when something is wrong.
"""

import datetime
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "tls.pem", tmp / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _render(tmp: Path, **env) -> Path:
    """Render the site with install.sh itself and wrap it in a minimal nginx.conf that runs from tmp."""
    site = tmp / "site"
    subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--render-nginx", str(site)], check=True,
                   env={**os.environ, **env, "PROXY_SNIPPET": str(site / "tradeplatform-proxy.conf"),
                        "HEADERS_SNIPPET": str(site / "tradeplatform-headers.conf")})
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / "nginx-tmp" / sub).mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log {tmp}/nginx-access.log;\n"
        + "".join(f"  {sub}_temp_path {tmp}/nginx-tmp/{sub};\n"
                  for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {site}/tradeplatform.conf;\n}}\n"
    )
    return conf


def test_the_rendered_site_passes_nginx_t(tmp_path):
    cert, key = _self_signed(tmp_path)
    conf = _render(tmp_path, SERVER_NAME="trade.example.com", TLS_CERT=str(cert), TLS_KEY=str(key),
                   STATIC_ROOT=str(tmp_path / "static"), HTTP_LISTEN="127.0.0.1:8080", HTTPS_LISTEN="127.0.0.1:8443")
    result = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    site = (tmp_path / "site" / "tradeplatform.conf").read_text()
    assert not re.search(r"@[A-Z_]+@", site)  # every placeholder filled
    assert "auth_basic off;" in site  # no ADMIN_BASIC_AUTH_USER: no second lock on /admin/
    assert "return 301 https://$host:8443$request_uri;" in site


def test_the_site_with_the_admin_lock_passes_nginx_t(tmp_path):
    """With the installer's htpasswd present, /admin/ gets its second lock, and nginx -t still passes."""
    cert, key = _self_signed(tmp_path)
    htpasswd = tmp_path / "admin.htpasswd"
    htpasswd.write_text("ops:$6$placeholder$notarealhash\n")
    conf = _render(tmp_path, SERVER_NAME="trade.example.com", TLS_CERT=str(cert), TLS_KEY=str(key),
                   STATIC_ROOT=str(tmp_path / "static"), HTTP_LISTEN="127.0.0.1:8080", HTTPS_LISTEN="127.0.0.1:8443",
                   ADMIN_HTPASSWD=str(htpasswd))
    result = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    site = (tmp_path / "site" / "tradeplatform.conf").read_text()
    assert f"auth_basic_user_file {htpasswd};" in site and "auth_basic off;" not in site


def test_the_upstream_lists_one_socket_per_web_process(tmp_path):
    """The unit starts WEB_WORKERS processes on web-1.sock ... (config/serve.py); nginx must know every one."""
    base = {"SERVER_NAME": "trade.example.com", "STATIC_ROOT": str(tmp_path / "static")}
    env = {k: v for k, v in os.environ.items() if k not in ("WEB_WORKERS", "UPSTREAM")}

    def upstream(out: Path, **extra) -> list[str]:
        subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--render-nginx", str(out)], check=True,
                       env={**env, **base, "ETC": str(tmp_path / "etc"), **extra})
        return re.findall(r"server (unix:\S+) max_fails", (out / "tradeplatform.conf").read_text())

    assert upstream(tmp_path / "a") == ["unix:/run/tradeplatform/web-1.sock", "unix:/run/tradeplatform/web-2.sock"]
    assert len(upstream(tmp_path / "b", WEB_WORKERS="3")) == 3
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "env").write_text("SECRET_KEY=placeholder\nWEB_WORKERS=4\n")
    assert upstream(tmp_path / "c")[-1] == "unix:/run/tradeplatform/web-4.sock"  # what the host runs now
    bad = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--render-nginx", str(tmp_path / "d")],
                         capture_output=True, text=True, env={**env, **base, "WEB_WORKERS": "two"})
    assert bad.returncode != 0 and "WEB_WORKERS must be a number" in bad.stderr


def test_rendering_without_a_server_name_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SERVER_NAME"}
    result = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--render-nginx", str(tmp_path)],
                            capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "set SERVER_NAME" in result.stderr


def test_systemd_units_run_the_four_processes_as_the_service_user():
    units = {p.name: p.read_text() for p in (ROOT / "deploy" / "systemd").glob("tradeplatform-*.service")
             if p.name != "tradeplatform-backup.service"}  # a oneshot the timer starts, tested in tests/ops
    assert set(units) == {"tradeplatform-web.service", "tradeplatform-worker.service", "tradeplatform-alerts.service",
                          "tradeplatform-beat.service"}
    for text in units.values():
        assert "User=tradeplatform" in text and "EnvironmentFile=/etc/tradeplatform/env" in text
        assert "Restart=on-failure" in text and "NoNewPrivileges=true" in text
    assert "config.serve \\\n    --uds /run/tradeplatform/web-{n}.sock --workers ${WEB_WORKERS}" in units[
        "tradeplatform-web.service"]
    assert "celery -A config beat" in units["tradeplatform-beat.service"]
    # trading work and alert delivery never share a worker: a slow alert channel cannot delay a tick
    assert "-Q celery " in units["tradeplatform-worker.service"]
    assert "-Q alerts " in units["tradeplatform-alerts.service"]
    target = (ROOT / "deploy" / "systemd" / "tradeplatform.target").read_text()
    assert all(name in target for name in units)


@pytest.fixture
def deployed(tmp_path, transactional_db, settings):
    """uvicorn (production settings, unix socket) + the two Celery workers + beat + nginx with TLS, on loopback."""
    os.chmod(tmp_path, 0o755)
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "false", "HTTPS": "true", "NUM_PROXIES": "1",
           "ALLOWED_HOSTS": "localhost,127.0.0.1", "STATIC_ROOT": str(tmp_path / "static"), "SERVE_STATIC": "false",
           "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings",
           "NOTIFICATION_ALLOWED_HOSTS": "127.0.0.1",  # the DingTalk stand-in lives on loopback
           "MARKET_DATA_SOURCE": "synthetic"}  # beat polls prices: never the internet from a test
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True)
    # a unix socket path may be at most 107 bytes: keep it short however deep the checkout lies
    sock_dir = Path(tempfile.mkdtemp(prefix="tp-web-"))
    os.chmod(sock_dir, 0o755)
    socks = [sock_dir / "web-1.sock", sock_dir / "web-2.sock"]  # two web processes, as the unit runs them
    sock = socks[0]
    cert, key = _self_signed(tmp_path)
    http_port, https_port = _free_port(), _free_port()
    conf = _render(tmp_path, SERVER_NAME="localhost", TLS_CERT=str(cert), TLS_KEY=str(key),
                   STATIC_ROOT=str(tmp_path / "static"), UPSTREAM=" ".join(f"unix:{s}" for s in socks),
                   HTTP_LISTEN=f"127.0.0.1:{http_port}", HTTPS_LISTEN=f"127.0.0.1:{https_port}")
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["web"] = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "config.serve", "--uds", str(sock_dir / "web-{n}.sock"), "--workers", "2",
             "--", "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-server-header",
             "--ws", "websockets-sansio", "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True)
        for name, queue in (("worker", "celery"), ("alerts", "alerts")):  # as the two systemd units run them
            procs[name] = subprocess.Popen(
                [str(VENV_BIN / "celery"), "-A", "config", "worker", "-P", "solo", "-c", "1", "-Q", queue,
                 "-n", f"verify-{name}{os.getpid()}@%h", "-l", "WARNING"], cwd=ROOT, env=env)
        procs["beat"] = subprocess.Popen([str(VENV_BIN / "celery"), "-A", "config", "beat", "-l", "WARNING",
                                          "--pidfile", str(tmp_path / "beat.pid")], cwd=ROOT, env=env)
        procs["nginx"] = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"])
        from django.core.cache import cache

        from accounts.services import heartbeat_key
        from ops.beat import beat_last_run

        deadline = time.monotonic() + 60  # five processes starting on a busy 2-core machine
        while True:  # ready when the workers' heartbeats and beat's run show
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health/ping/", timeout=2):
                    pass
                if (all(s.exists() for s in socks) and cache.get(heartbeat_key("worker")) and cache.get(heartbeat_key("alerts"))
                        and beat_last_run()):
                    break
            except OSError:
                pass
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            assert time.monotonic() < deadline, (
                "the stack did not come up within 60 s: " + ", ".join(name for name, up in (
                    ("web", sock.exists()), ("worker", cache.get(heartbeat_key("worker"))),
                    ("alerts worker", cache.get(heartbeat_key("alerts"))), ("beat", beat_last_run())) if not up)
                + " not up")
            time.sleep(0.3)
        yield {"url": f"https://localhost:{https_port}", "http_url": f"http://localhost:{http_port}",
               "ca": str(cert), "procs": procs}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(sock_dir, ignore_errors=True)


def _verify(capsys, **kwargs) -> tuple[str, str | None]:
    try:
        call_command("verify_deployment", **kwargs)
        error = None
    except CommandError as exc:
        error = str(exc)
    return capsys.readouterr().out, error


def test_the_deployed_stack_passes_verify_deployment(deployed, capsys):
    out, error = _verify(capsys, url=deployed["url"], http_url=deployed["http_url"], ca_file=deployed["ca"])
    assert error is None, out
    assert "FAIL" not in out
    assert "All 13 checks passed" in out
    assert ("ok    live trading state (bots run; live trading off (paper only); promotions need a staff approval)"
            in out)  # the default policy
    assert "unauthenticated handshake refused by the app (403)" in out
    assert "-> https://localhost:" in out  # plain HTTP was redirected


def test_verify_deployment_opt_in_checks_rate_limit_and_the_operator_robot(deployed, capsys, settings):
    from tests.notifications.dingtalk_standin import SECRET, DingTalkStandIn
    from trading.promotion.selectors import promotion_policy

    standin = DingTalkStandIn().start()
    try:
        settings.DINGTALK_WEBHOOK_URL, settings.DINGTALK_SECRET = standin.url, SECRET
        settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
        policy = promotion_policy()
        policy.require_staff_approval = False  # the operator turned the staff approval off in admin
        policy.save()
        out, error = _verify(capsys, url=deployed["url"], http_url=deployed["http_url"], ca_file=deployed["ca"],
                             rate_limit_test=True, dingtalk_test=True)
        assert error is None, out
        assert "All 15 checks passed" in out
        assert "ok    /metrics is not public (403 without a staff session)" in out
        assert ("ok    live trading state (bots run; live trading off (paper only); PROMOTIONS NEED NO STAFF "
                "APPROVAL (the owner's two confirmations are enough))") in out  # as the policy was set above
        assert "API rate limit answers 429 through the proxy (" in out and "of 60 answered 429" in out
        assert "operator DingTalk robot accepts a test message (delivered (HTTP 200))" in out
        assert [m[m["msgtype"]]["title"] for m in standin.received] == ["Deployment check"]
        assert SECRET not in out and standin.url not in out  # never printed
    finally:
        standin.stop()


def test_a_slow_alert_channel_never_delays_the_trading_worker(deployed, alice, settings):
    """Two alerts to a DingTalk robot that takes 2 s per message keep the alerts worker busy for 4 s;
    meanwhile the main worker (ticks, polls, risk monitor) answers at once. Both alerts arrive."""
    from django.core.cache import cache

    from accounts.services import heartbeat_key
    from accounts.tasks import heartbeat
    from notifications.services import channel_create, notify
    from tests.notifications.dingtalk_standin import SECRET, DingTalkStandIn

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    standin = DingTalkStandIn().start()
    try:
        standin.mode, standin.delay = "slow", 2.0
        channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET)
        for n in (1, 2):
            notify(user=alice, event="risk", severity="critical", title=f"Bot halted #{n}", text="daily loss")
        deadline = time.monotonic() + 5
        while not standin.requests:  # the alerts worker picks the first one up and waits on DingTalk
            assert time.monotonic() < deadline, "the alerts worker did not start delivering"
            time.sleep(0.05)
        assert not standin.received

        cache.delete(heartbeat_key("worker"))
        sent = time.monotonic()
        heartbeat.delay()  # any task of the main queue: it runs now, not after the alerts
        while cache.get(heartbeat_key("worker")) is None:
            assert time.monotonic() - sent < 1.5, "the main worker waited for the alert deliveries"
            time.sleep(0.05)

        deadline = time.monotonic() + 15
        while len(standin.received) < 2:
            assert time.monotonic() < deadline, f"alerts not delivered: {standin.requests}"
            time.sleep(0.1)
        assert {m[m["msgtype"]]["title"] for m in standin.received} == {"Bot halted #1", "Bot halted #2"}
    finally:
        standin.stop()


def test_verify_deployment_reports_a_dead_worker_and_an_untrusted_certificate(deployed, capsys):
    from django.core.cache import cache

    from accounts.services import HEARTBEAT_KEY

    worker = deployed["procs"]["worker"]
    worker.terminate()
    worker.wait(timeout=20)
    cache.delete(HEARTBEAT_KEY)
    out, error = _verify(capsys, url=deployed["url"], http_url=deployed["http_url"], ca_file=deployed["ca"])
    assert error == f"1 of 13 checks failed for {deployed['url']}"
    assert ("FAIL  readiness /api/health/ (database, redis, workers, beat): status 200 (degraded); "
            "celery: no worker heartbeat yet") in out

    out, error = _verify(capsys, url=deployed["url"], http_url=deployed["http_url"])  # system CAs only
    assert error is not None and "TLS failed" in out and "CERTIFICATE_VERIFY_FAILED" in out


def test_verify_deployment_says_when_nothing_answers(capsys, db):  # db: the promotion policy is read
    port = _free_port()
    out, error = _verify(capsys, url=f"https://127.0.0.1:{port}", http_url=f"http://127.0.0.1:{port}", timeout=2)
    # all but "HTTPS in use" and the live trading state (read from this host's settings)
    assert error == f"11 of 13 checks failed for https://127.0.0.1:{port}"
    assert "cannot reach https://127.0.0.1" in out
