"""The first run's staff account: its printed password works once, then a new one must be chosen."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db
NEW = "the operator's own long passphrase 5"


@pytest.fixture
def first_admin():
    out = StringIO()
    call_command("first_run", "--url", "http://127.0.0.1:8000/", stdout=out)
    return re.search(r"One-time password \(.*?\): (\S+)", out.getvalue())[1]


def test_the_first_page_login_leads_to_the_change_form_until_a_new_password_is_set(first_admin):
    page = Client()
    r = page.post("/login/", {"username": "admin", "password": first_admin})
    assert r.status_code == 302
    for path in ("/", "/admin/", "/bots/"):
        r = page.get(path)
        assert r.status_code == 302 and r["Location"] == "/password/", path
    r = page.post("/password/", {"old_password": first_admin, "new_password1": NEW, "new_password2": NEW})
    assert r.status_code == 302
    assert page.get("/").status_code == 200
    assert page.get("/admin/").status_code == 200


def test_the_api_refuses_everything_but_the_password_change_until_it_is_done(anon, first_admin):
    pair = anon.post("/api/auth/login/", {"username": "admin", "password": first_admin}, format="json").json()
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    r = anon.get("/api/bots/")
    assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
    assert anon.get("/api/auth/me/").status_code == 200
    r = anon.post("/api/auth/password/", {"old_password": first_admin, "new_password": NEW}, format="json")
    assert r.status_code == 200, r.content
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['access_token']}")
    assert anon.get("/api/bots/").status_code == 200
