"""HTTP under the ASGI server (config/asgi_http.py): the whole request on one pool thread, same answers as before.

Through the real ASGI application (as uvicorn calls it), not the test client: bodies, headers, query
strings, the client address, the middleware's headers, Django's own size limit, and two requests at once
in one process (a slow one does not hold up the other).
"""

import asyncio
import json
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db import connection

from accounts.models import AuditEvent
from config.asgi import application
from config.asgi_http import WsgiOnThreads


async def _call(method, path, *, body=b"", headers=(), query=b"", client=("192.0.2.7", 5000), app=application,
                chunks=1):
    headers = [(b"host", b"testserver"), *headers]
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
             "client": client, "server": ("testserver", 80)}
    comm = ApplicationCommunicator(app, scope)
    step = max(1, len(body) // chunks)
    parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
    for i, part in enumerate(parts):
        await comm.send_input({"type": "http.request", "body": part, "more_body": i < len(parts) - 1})
    start = await comm.receive_output(10)
    out = await comm.receive_output(10)
    await comm.wait(10)
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, out["body"]


@sync_to_async
def _token_for(user):
    from accounts.services import tokens_issue

    try:
        return tokens_issue(user=user)["access_token"]
    finally:
        connection.close()


@sync_to_async
def _failure_ips():
    try:
        return list(AuditEvent.objects.filter(action="login.failure").values_list("ip", flat=True))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_a_json_post_in_several_chunks_reaches_the_view_with_the_client_address():
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    status, headers, out = await _call("POST", "/api/auth/login/", body=body, chunks=3,
                                       headers=[(b"content-type", b"application/json")])
    assert status == 401
    assert json.loads(out)["error"]["code"]
    assert headers["content-type"].startswith("application/json")
    assert "default-src 'self'" in headers["content-security-policy"]  # the middleware ran
    assert await _failure_ips() == ["192.0.2.7"]


@pytest.mark.django_db(transaction=True)
async def test_the_bearer_token_and_query_string_arrive(alice, bob):
    token = await _token_for(alice)
    status, _, out = await _call("GET", "/api/bots/", headers=[(b"authorization", f"Bearer {token}".encode())])
    assert status == 200 and json.loads(out) == []
    status, _, out = await _call("GET", "/api/bots/")
    assert status == 401
    status, _, out = await _call("GET", "/api/prices/live/", query=b"exchange=binance&symbols=not-a-symbol",
                                 headers=[(b"authorization", f"Bearer {token}".encode())])
    assert status == 400 and "symbols" in json.loads(out)["error"]["fields"]


@pytest.mark.django_db(transaction=True)
async def test_an_oversized_body_is_413_in_the_error_shape(alice, settings):
    token = await _token_for(alice)
    body = b'{"name": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    status, _, out = await _call("POST", "/api/bots/", body=body, chunks=8,
                                 headers=[(b"content-type", b"application/json"),
                                          (b"authorization", f"Bearer {token}".encode())])
    assert status == 413
    assert json.loads(out)["error"]["code"] == "payload_too_large"


async def test_a_slow_request_does_not_hold_up_the_next_one():
    release = threading.Event()

    def wsgi(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Seen", environ.get("HTTP_X_TWICE", ""))])
        return [environ["PATH_INFO"].encode(), b"|", environ["QUERY_STRING"].encode()]

    app = WsgiOnThreads(wsgi, threads=2)
    slow = asyncio.ensure_future(_call("GET", "/slow", app=app))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    status, headers, out = await _call("GET", "/fast", query=b"a=1", app=app,
                                       headers=[(b"x-twice", b"1"), (b"x-twice", b"2")])
    assert (status, out, headers["x-seen"]) == (200, b"/fast|a=1", "1,2")  # repeated headers joined, as WSGI
    assert time.monotonic() - started < 2 and not slow.done()
    release.set()
    assert (await slow)[2] == b"/slow|"
