"""The Notifications page without a browser: forms, errors, actions and ownership."""

import pytest
from django.test import Client

from notifications.models import Channel, Outbox
from tests.notifications.dingtalk_standin import SECRET, TOKEN

pytestmark = pytest.mark.django_db


def _add(client, standin, **over):
    data = {"kind": "dingtalk", "name": "desk", "webhook_url": standin.url, "secret": SECRET,
            "events": ["risk", "kill_switch"], "min_severity": "warning", **over}
    return client.post("/notifications/", data)


def test_the_page_needs_a_login(client):
    assert client.get("/notifications/")["Location"].startswith("/login/")


def test_add_test_pause_and_delete_from_the_page(client, alice, standin, allow_local):
    client.force_login(alice)
    r = _add(client, standin)
    assert r.status_code == 302
    channel = Channel.objects.get()
    assert channel.events == ["risk", "kill_switch"] and channel.min_severity == "warning"
    page = client.get("/notifications/").content.decode()
    assert "desk" in page and f"access_token=…{TOKEN[-4:]}" in page and TOKEN not in page
    r = client.post(f"/notifications/channels/{channel.pk}/test/", follow=True)
    assert "Delivered: DingTalk accepted the test message." in r.content.decode()
    assert len(standin.received) == 1 and Outbox.objects.get().state == "sent"
    client.post(f"/notifications/channels/{channel.pk}/toggle/")
    channel.refresh_from_db()
    assert not channel.is_active and channel.disabled_reason == "Paused by you"
    client.post(f"/notifications/channels/{channel.pk}/toggle/")
    channel.refresh_from_db()
    assert channel.is_active
    client.post(f"/notifications/channels/{channel.pk}/delete/")
    assert not Channel.objects.exists()


def test_form_errors_are_shown_next_to_the_field(client, alice, standin, allow_local):
    client.force_login(alice)
    r = _add(client, standin, webhook_url="https://evil.example.com/robot/send?access_token=abc")
    assert r.status_code == 200
    html = r.content.decode()
    assert "must point at oapi.dingtalk.com" in html and "abc" not in html.split("must point at")[0][-300:]
    r = _add(client, standin, kind="apprise", apprise_url="json://10.0.0.1/hook")
    assert "10.0.0.1 is a private address" in r.content.decode()
    assert not Channel.objects.exists()


def test_other_users_channels_are_404_on_the_page(client, alice, bob, standin, allow_local):
    client.force_login(alice)
    _add(client, standin)
    channel = Channel.objects.get()
    client = Client()
    client.force_login(bob)
    for action in ("test", "toggle", "delete"):
        assert client.post(f"/notifications/channels/{channel.pk}/{action}/").status_code == 404
    assert "desk" not in client.get("/notifications/").content.decode()
    assert standin.requests == [] and Channel.objects.get().is_active
