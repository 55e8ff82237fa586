"""Browser fixtures: a real ASGI server (uvicorn: HTTP and WebSockets) and Debian's Chromium via Playwright.

- `live_server_url`: the platform served by uvicorn in a thread of this test process, on a free
  127.0.0.1 port, against the test database (use `transactional_db` so the server sees the rows a
  test writes) and the test Redis (channel layer, cache). Static files are served by the app.
- `page`: a fresh Playwright page (own browser context: cookies, storage) per test.
- `login(page, user)`: signs `user` in by giving the page a real session cookie (fast); tests about
  the login form itself fill the form instead.

Chromium cannot be downloaded here: `scripts/bootstrap.sh` installs Debian's `chromium` and these
fixtures launch it through `executable_path`.
"""

import os
import shutil
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _asgi_server(django_db_setup, django_db_blocker):
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    with django_db_blocker.unblock():
        from config.asgi import application  # verifies the encryption keys against the test database

    port = _free_port()
    config = uvicorn.Config(ASGIStaticFilesHandler(application), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test ASGI server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    # Worker threads of the server may still hold database sessions; the test database can only be
    # dropped once they are gone.
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def live_server_url(_asgi_server, transactional_db):
    return _asgi_server


@pytest.fixture
def page(live_server_url, monkeypatch):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/bootstrap.sh (it installs Debian's chromium)")
    # Playwright's sync API keeps an event loop running in this thread while it is open, and Django
    # refuses ORM calls from a thread with a running loop; the test body's ORM calls are plain sync
    # code, so allow them for this test only. A browser per test: nothing leaks into the next one.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # a script, style or connection the Content-Security-Policy refused counts as a script error too
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Content Security Policy"
          in msg.text else None)
    pg.js_errors = errors  # tests may assert the page ran without uncaught script errors or CSP refusals
    try:
        yield pg
    finally:
        context.close()
        browser.close()
        pw.stop()


@pytest.fixture
def login(live_server_url):
    """login(page, user): a real session for `user`, set as the browser's cookie."""
    from django.conf import settings
    from django.test import Client

    def sign_in(pg, user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        pg.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value,
                                 "url": live_server_url, "httpOnly": True, "sameSite": "Lax"}])
        return pg

    return sign_in
