"""Every page sends a strict Content-Security-Policy and a Permissions-Policy, and no page has inline script."""

import re

import pytest
from django.test import Client

from tests.pages.test_bad_form_input import _page_urls, _urls, owned  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)


def _pages(client, owned):  # noqa: F811
    for path, name in _page_urls():
        if "<" in path.replace("<int:pk>", "").replace("<int:order_id>", ""):
            continue  # reset links: their own test
        for url in _urls(path, name, owned)[:1]:
            r = client.get(url)
            if r.status_code == 200 and r["Content-Type"].startswith("text/html"):
                yield url, r


def test_every_page_sends_the_policies_and_runs_no_inline_script(alice, owned):  # noqa: F811
    client = Client()
    client.force_login(alice)
    seen = 0
    for url, r in _pages(client, owned):
        seen += 1
        csp = r["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], url
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "camera=()" in r["Permissions-Policy"]
        html = r.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html))
        assert not INLINE_HANDLER.search(html), (url, INLINE_HANDLER.search(html)[0][:120])
    assert seen >= 10


@pytest.mark.parametrize("path", ["/login/", "/api/health/ping/", "/api/docs/", "/admin/login/"])
def test_anonymous_pages_the_api_and_admin_send_them_too(path):
    r = Client().get(path)
    assert r.status_code == 200
    assert "default-src 'self'" in r["Content-Security-Policy"] and r["Permissions-Policy"]


def test_the_api_docs_start_swagger_from_a_file(anon):
    html = anon.get("/api/docs/").content.decode()
    assert not INLINE_SCRIPT.search(html)
