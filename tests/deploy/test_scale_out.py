"""Scale-out on loopback, as docs/scale-out.md describes it: two web instances (uvicorn, production settings,
TCP as on two hosts) behind one nginx upstream, sharing PostgreSQL and Redis. A WebSocket client on each
instance gets every price tick, a JWT issued by one works on the other, and nginx keeps serving when one
instance dies.
"""

import contextlib
import http.client
import json
import os
import ssl
import subprocess
import time

import pytest
from websockets.sync.client import connect

from tests.conftest import PASSWORD
from tests.deploy.test_nginx import NGINX, ROOT, VENV_BIN, _free_port, _render, _self_signed

pytestmark = pytest.mark.slow


@pytest.fixture
def two_web_hosts(tmp_path, transactional_db, settings):
    os.chmod(tmp_path, 0o755)
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DEBUG": "false", "HTTPS": "true", "NUM_PROXIES": "1", "ALLOWED_HOSTS": "localhost,127.0.0.1",
           "STATIC_ROOT": str(tmp_path / "static"), "SERVE_STATIC": "false", "ENV_FILE": "/dev/null",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    ports = [_free_port(), _free_port()]
    cert, key = _self_signed(tmp_path)
    https_port = _free_port()
    conf = _render(tmp_path, SERVER_NAME="localhost", TLS_CERT=str(cert), TLS_KEY=str(key),
                   STATIC_ROOT=str(tmp_path / "static"), UPSTREAM=" ".join(f"127.0.0.1:{p}" for p in ports),
                   HTTP_LISTEN=f"127.0.0.1:{_free_port()}", HTTPS_LISTEN=f"127.0.0.1:{https_port}")
    webs = [subprocess.Popen([str(VENV_BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
                              "--port", str(port), "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips",
                              "127.0.0.1", "--no-server-header", "--ws", "websockets-sansio", "--log-level", "warning"],
                             cwd=ROOT, env=env) for port in ports]
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"])
    procs = [*webs, nginx]
    try:
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                try:
                    if _request(f"127.0.0.1:{port}", "GET", "/api/health/ping/")[0] == 200:
                        break
                except OSError:
                    pass
                assert all(p.poll() is None for p in procs), "a web instance or nginx exited"
                assert time.monotonic() < deadline, "the web instances did not come up within 30 s"
                time.sleep(0.2)
        yield {"webs": webs, "ports": ports, "https_port": https_port,
               "context": ssl.create_default_context(cafile=str(cert))}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _request(netloc: str, method: str, path: str, body: dict | None = None, token: str | None = None,
             context: ssl.SSLContext | None = None):
    host, port = netloc.rsplit(":", 1)
    if context is not None:
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
        headers = {"Host": "localhost"}
    else:  # straight to one instance, as nginx would forward it
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Host": "localhost", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_token_from_one_web_instance_works_on_the_other(two_web_hosts, alice):
    from django.contrib.auth.hashers import make_password

    # the web instances hash with the production hashers, not the tests' fast one
    type(alice).objects.filter(pk=alice.pk).update(password=make_password(PASSWORD, hasher="argon2"))
    a, b = (f"127.0.0.1:{p}" for p in two_web_hosts["ports"])
    status, body = _request(a, "POST", "/api/auth/login/", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, body = _request(b, "GET", "/api/auth/me/", token=token)
    assert status == 200 and json.loads(body)["username"] == "alice"


def test_a_websocket_client_on_each_instance_gets_every_price_tick(two_web_hosts, alice, settings):
    from accounts.services import tokens_issue
    from trading.services.prices import prices_poll

    settings.MARKET_DATA_SOURCE, settings.DEFAULT_WATCHLIST = "synthetic", []
    token = tokens_issue(user=alice)["access_token"]
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws/prices/", open_timeout=10,
                                               additional_headers={"Authorization": f"Bearer {token}"}))
                   for port in two_web_hosts["ports"]]
        for ws in clients:
            ws.send(json.dumps({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]}))
            assert json.loads(ws.recv(timeout=5))["type"] == "subscribed"
        time.sleep(0.3)  # the instances' pub/sub subscriptions reach Redis
        polled = []
        for _ in range(5):
            result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
            polled.append(str(result.ticks[0].last))
            time.sleep(0.05)
        for n, ws in enumerate(clients):
            got = []
            while len(got) < len(polled):
                msg = json.loads(ws.recv(timeout=5))
                if msg.get("type") == "tick":
                    got.append(msg["last"])
            assert got == polled, f"instance {n} sent {got}, the poller published {polled}"


def test_nginx_keeps_serving_when_one_web_instance_dies(two_web_hosts):
    netloc = f"127.0.0.1:{two_web_hosts['https_port']}"
    ctx = two_web_hosts["context"]
    assert all(_request(netloc, "GET", "/api/health/ping/", context=ctx)[0] == 200 for _ in range(4))
    dead = two_web_hosts["webs"][0]
    dead.kill()
    dead.wait(timeout=10)
    statuses = [_request(netloc, "GET", "/api/health/ping/", context=ctx)[0] for _ in range(10)]
    assert statuses == [200] * 10, statuses  # nginx tries the other instance, the client never sees the dead one
