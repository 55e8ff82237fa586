"""What nginx itself enforces in front of the app, through a real nginx on loopback in front of the real app
(uvicorn, production settings, unix socket): the API and WebSocket rate limits answer 429 (JSON for the
API), every answer carries CSP / frame / permissions headers exactly once, and /admin/ sits behind the
HTTP basic auth that `install.sh --configure` created.
"""

import http.client
import json
import math
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.deploy.test_nginx import NGINX, ROOT, VENV_BIN, _free_port, _render, _self_signed

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "test-only-admin-lock"


@pytest.fixture
def edge(tmp_path, transactional_db, settings):
    os.chmod(tmp_path, 0o755)
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DEBUG": "false", "HTTPS": "true", "NUM_PROXIES": "1", "ALLOWED_HOSTS": "localhost,127.0.0.1",
           "STATIC_ROOT": str(tmp_path / "static"), "SERVE_STATIC": "false", "ENV_FILE": "/dev/null",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True)
    # the htpasswd as the installer makes it
    etc = tmp_path / "etc"
    subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--configure"], check=True, capture_output=True,
                   env={**os.environ, "ETC": str(etc), "SERVER_NAME": "localhost", "APP_USER": "root",
                        "NGINX_GROUP": "root", "ADMIN_BASIC_AUTH_USER": "ops",
                        "ADMIN_BASIC_AUTH_PASSWORD": ADMIN_PASSWORD})
    os.chmod(etc, 0o755)
    sock_dir = Path(tempfile.mkdtemp(prefix="tp-edge-"))
    os.chmod(sock_dir, 0o755)
    sock = sock_dir / "web.sock"
    cert, key = _self_signed(tmp_path)
    https_port = _free_port()
    conf = _render(tmp_path, SERVER_NAME="localhost", TLS_CERT=str(cert), TLS_KEY=str(key),
                   STATIC_ROOT=str(tmp_path / "static"), UPSTREAM=f"unix:{sock}", ADMIN_HTPASSWD=str(etc / "admin.htpasswd"),
                   HTTP_LISTEN=f"127.0.0.1:{_free_port()}", HTTPS_LISTEN=f"127.0.0.1:{https_port}")
    procs = [subprocess.Popen([str(VENV_BIN / "uvicorn"), "config.asgi:application", "--uds", str(sock),
                               "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*",
                               "--no-server-header", "--ws", "websockets-sansio", "--log-level", "warning"],
                              cwd=ROOT, env=env),
             subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"])]
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if sock.exists():
                    with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                        break
            except OSError:
                pass
            assert all(p.poll() is None for p in procs), "uvicorn or nginx exited"
            assert time.monotonic() < deadline, "the stack did not come up within 30 s"
            time.sleep(0.2)
        yield {"port": https_port, "context": context}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(sock_dir, ignore_errors=True)


def _get(edge, path: str, headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPSConnection("localhost", edge["port"], timeout=10, context=edge["context"])
    try:
        conn.request("GET", path, headers={"Host": "localhost", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def _wait_ready(edge):
    deadline = time.monotonic() + 20
    while _get(edge, "/api/health/ping/")[0] != 200:
        assert time.monotonic() < deadline, "the app never answered through nginx"
        time.sleep(0.3)


def test_every_answer_carries_the_security_headers_once_and_admin_wants_the_second_password(edge):
    """Also: a body above the request size limit is a 413 from nginx."""
    import base64

    _wait_ready(edge)
    for path in ("/login/", "/api/auth/me/", "/static/css/app.css", "/no-such-page/"):
        _, headers, _ = _get(edge, path)
        csp = headers.get_all("Content-Security-Policy") or []
        assert len(csp) == 1 and "frame-ancestors 'none'" in csp[0] and "object-src 'none'" in csp[0], (path, csp)
        script_src = csp[0].split("script-src")[1].split(";")[0]
        assert "'unsafe-inline'" not in script_src, (path, csp)  # no page needs inline script
        assert headers.get_all("X-Frame-Options") == ["DENY"], path
        assert headers.get_all("X-Content-Type-Options") == ["nosniff"], path
        assert "camera=()" in headers.get("Permissions-Policy", ""), path
    status, headers, _ = _get(edge, "/login/")
    assert status == 200 and "max-age=" in headers.get("Strict-Transport-Security", "")  # HSTS: the app's

    status, headers, _ = _get(edge, "/admin/login/")
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Basic")
    wrong = base64.b64encode(b"ops:not-the-password").decode()
    assert _get(edge, "/admin/login/", {"Authorization": f"Basic {wrong}"})[0] == 401
    right = base64.b64encode(f"ops:{ADMIN_PASSWORD}".encode()).decode()
    status, _, body = _get(edge, "/admin/login/", {"Authorization": f"Basic {right}"})
    assert status == 200 and b"Trading platform admin" in body  # Django's own login comes next
    assert _get(edge, "/login/")[0] == 200  # the rest of the site needs no second password

    # a body above the request size limit (client_max_body_size 2m) is refused by nginx before the app
    status, headers, _ = _post_declared(edge, "/api/auth/login/", 3 * 1024 * 1024)
    assert status == 413 and headers.get_all("X-Frame-Options") == ["DENY"]
    assert _post_declared(edge, "/api/auth/login/", 1024)[0] in (400, 401)  # a small one reaches the app


def _post_declared(edge, path: str, length: int) -> tuple[int, http.client.HTTPMessage, bytes]:
    """A JSON POST that declares `length` bytes (sends them if small): nginx judges the Content-Length."""
    conn = http.client.HTTPSConnection("localhost", edge["port"], timeout=10, context=edge["context"])
    try:
        conn.putrequest("POST", path, skip_host=True)
        for name, value in (("Host", "localhost"), ("Content-Type", "application/json"),
                            ("Content-Length", str(length))):
            conn.putheader(name, value)
        conn.endheaders()
        if length <= 4096:
            conn.send(b"{" + b" " * (length - 2) + b"}")
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_an_api_burst_gets_429_with_a_json_error_through_nginx(edge):
    _wait_ready(edge)
    time.sleep(2.5)  # let the readiness probes' tokens refill
    started = time.monotonic()
    answers = [_get(edge, "/api/health/ping/") for _ in range(45)]
    elapsed = time.monotonic() - started
    statuses = [a[0] for a in answers]
    assert statuses[:20] == [200] * 20, statuses  # a burst of 20 passes
    # after that about 10 a second: 1 + 20 + 10 per second elapsed at most (+1 for rounding)
    assert statuses.count(200) <= 22 + math.ceil(10 * elapsed), (elapsed, statuses)
    limited = [a for a in answers if a[0] == 429]
    assert limited, statuses
    status, headers, body = limited[0]
    assert headers.get("Content-Type") == "application/json" and headers.get("Retry-After") == "1"
    error = json.loads(body)["error"]
    assert error["code"] == "rate_limited" and error["message"] and error["fields"] == {}
    assert headers.get_all("X-Frame-Options") == ["DENY"]
    time.sleep(1.5)
    assert _get(edge, "/api/health/ping/")[0] == 200  # and it recovers


def _ws_handshake(edge) -> int:
    raw = socket.create_connection(("127.0.0.1", edge["port"]), timeout=10)
    with edge["context"].wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /ws/prices/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status_line = tls.recv(200).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_a_burst_of_websocket_connects_gets_429_from_nginx(edge):
    _wait_ready(edge)
    started = time.monotonic()
    statuses = [_ws_handshake(edge) for _ in range(30)]
    elapsed = time.monotonic() - started
    assert statuses[:10] == [403] * 10, statuses  # reached the app, which refuses an anonymous socket
    # after a burst of 10 about 5 connects a second
    assert statuses.count(403) <= 12 + math.ceil(5 * elapsed), (elapsed, statuses)
    assert 429 in statuses and set(statuses) <= {403, 429}, statuses
