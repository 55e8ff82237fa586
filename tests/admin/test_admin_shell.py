"""The admin belongs to the platform: its icon, and a way back to the platform's pages."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_admin_pages_link_back_to_the_platform_and_have_the_site_icon(make_user):
    root = make_user("root", staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    html = client.get("/admin/").content.decode()
    assert '<a href="/">Back to the platform</a>' in html
    assert 'rel="icon"' in html  # no /favicon.ico 404 on every admin page
    assert "Trading platform administration" in html
