"""A spoofed X-Forwarded-For is believed only from a configured proxy (FORWARDED_ALLOW_IPS)."""

import json
import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db import connection

from accounts.models import AuditEvent
from config.asgi import application
from config.proxy import forwarded_client

ROOT = Path(__file__).resolve().parents[3]


async def _login(peer, xff):
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(b"x-forwarded-for", v.encode()) for v in xff]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/auth/login/", "raw_path": b"/api/auth/login/", "query_string": b"",
             "root_path": "", "headers": headers, "client": peer, "server": ("testserver", 80)}
    comm = ApplicationCommunicator(application, scope)
    await comm.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await comm.receive_output(10)
    await comm.receive_output(10)
    await comm.wait(10)  # let Django finish the request (it closes its database connection then)
    return start["status"]


@sync_to_async
def _failure_ips():
    try:
        return list(AuditEvent.objects.filter(action="login.failure").values_list("ip", flat=True))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("allow", "peer", "xff", "seen"), [
    ([], ("127.0.0.1", 5000), ["203.0.113.9"], "127.0.0.1"),  # make run: nobody is trusted
    (["unix"], ("127.0.0.1", 5000), ["203.0.113.9"], "127.0.0.1"),  # "unix" trusts only socket peers
    (["unix"], None, ["6.6.6.6, 198.51.100.4"], "198.51.100.4"),  # nginx appended what it saw; the rest is the client's
    (["10.0.0.0/8"], ("10.1.2.3", 5000), ["6.6.6.6", "198.51.100.4, 10.9.9.9"], "198.51.100.4"),
])
async def test_the_audit_log_records_the_address_a_trusted_proxy_saw(settings, allow, peer, xff, seen):
    settings.FORWARDED_ALLOW_IPS = allow
    assert await _login(peer, xff) == 401
    assert await _failure_ips() == [seen]


def test_garbage_in_the_header_keeps_the_peer():
    scope = {"client": None, "headers": [(b"x-forwarded-for", b"not-an-ip")]}
    assert forwarded_client(scope, ("unix",)) is None


def test_make_run_and_systemd_leave_forwarded_headers_to_the_app():
    stack = (ROOT / "scripts" / "stack.py").read_text()
    assert "--no-proxy-headers" in stack and "--proxy-headers\"" not in stack
    unit = (ROOT / "deploy" / "systemd" / "tradeplatform-web.service").read_text()
    assert re.search(r"^Environment=FORWARDED_ALLOW_IPS=unix$", unit, re.M)
    assert "--no-proxy-headers" in unit and "--forwarded-allow-ips" not in unit
